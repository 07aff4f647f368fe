from setuptools import find_packages, setup

setup(
    name='cream_det',
    version='0.1.0',
    description='Cream of the Crop NAS (prioritized paths) for OpenMMLab: '
    'search, ImageNet pretraining and mmdet detection backbones',
    packages=find_packages(include=['cream_det', 'cream_det.*']),
    package_data={'cream_det.archs': ['*.json']},
    python_requires='>=3.9',
    install_requires=[
        'torch>=2.0',
        'torchvision',
        'mmcv>=2.0.0,<2.2.0',
        'mmengine>=0.10.0',
        'mmdet>=3.0.0',
        'timm>=1.0',
        'pycocotools',
        'numpy',
        'pyyaml',
        'scikit-image',  # its sample photos: the detection set's backgrounds
    ],
    extras_require={'tests': ['pytest']},
)
