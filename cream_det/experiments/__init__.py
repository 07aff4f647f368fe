"""What we learn about a search, above the library: the ranking audit, the
quality benchmarks, learning curves and the main job on the embedded
defaults. Nothing in the package below imports this."""
from . import learning_curves  # noqa: F401  (ProbePathsHook)
