#!/usr/bin/env bash
# The project's two entry points, each of which first makes sure the pinned
# environment exists (a venv in .venv, created once and then reused):
#   bash tools/run.sh main [args]   the main job on the embedded default
#   bash tools/run.sh test [args]   the test suite (pytest)
#   bash tools/run.sh env           only create / check the environment
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"

TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
MMCV_VERSION=2.1.0
MMENGINE_VERSION=0.10.7
MMDET_VERSION=3.3.0
TIMM_VERSION=1.0.31
PYCOCOTOOLS_VERSION=2.0.11
# Deployment (cream_det/deployment): the ONNX format, its two runtimes (CPU),
# and onnxscript, which torch's default (dynamo) ONNX exporter needs.
ONNX_VERSION=1.23.2
ONNXRUNTIME_VERSION=1.32.0
OPENVINO_VERSION=2026.4.1
ONNXSCRIPT_VERSION=0.7.2
# torch asks for setuptools >= 77.0.3; mmengine resolves mmdet:: config bases
# with pkg_resources, which setuptools 82 removed.
SETUPTOOLS_SPEC='>=77.0.3,<82'
# The environment's fingerprint: change any pin and the venv is rebuilt.
STAMP="torch$TORCH_VERSION tv$TORCHVISION_VERSION mmcv$MMCV_VERSION mmengine$MMENGINE_VERSION mmdet$MMDET_VERSION timm$TIMM_VERSION pycocotools$PYCOCOTOOLS_VERSION onnx$ONNX_VERSION ort$ONNXRUNTIME_VERSION openvino$OPENVINO_VERSION onnxscript$ONNXSCRIPT_VERSION setuptools$SETUPTOOLS_SPEC"
CACHE="${CREAM_DET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cream_det}"
WHEEL_CACHE="$CACHE/wheels"
PYVER="$(python3 -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"

log() { echo "[cream_det] $*" >&2; }

# mmcv has no prebuilt wheel for torch 2.14: build it once from the sdist and
# cache the wheel, keyed by versions and by whether CUDA ops were compiled.
build_mmcv_wheel() {
  local flavour="$1" out="$2" cuda_home="${3:-}" tmp
  tmp="$(mktemp -d)"
  log "building mmcv $MMCV_VERSION ($flavour ops) from source; this takes several minutes, once"
  # torch 2.14 headers need C++20; mmcv's setup.py forces -std=c++17 after any
  # CFLAGS, so a compiler wrapper rewrites the flag.
  cat > "$tmp/cxx" <<'WRAP'
#!/usr/bin/env bash
args=()
for a in "$@"; do
  case "$a" in -std=c++1[0-9]|-std=gnu++1[0-9]) args+=("-std=c++20") ;; *) args+=("$a") ;; esac
done
exec g++ "${args[@]}"
WRAP
  chmod +x "$tmp/cxx"
  # Its setup.py imports pkg_resources (gone from setuptools >= 70) and torch,
  # so it builds in this venv with an older setuptools, without isolation.
  "$PY" -m pip install -q 'setuptools<70'
  local env_flags=(MMCV_WITH_OPS=1 CXX="$tmp/cxx" MAX_JOBS="$(nproc)")
  if [ "$flavour" = cuda ]; then
    env_flags+=(FORCE_CUDA=1 NVCC_APPEND_FLAGS="-std=c++20")
    [ -z "$cuda_home" ] || env_flags+=(CUDA_HOME="$cuda_home")
  fi
  env "${env_flags[@]}" "$PY" -m pip wheel -q --no-deps --no-build-isolation \
    --no-binary mmcv -w "$tmp/wheel" "mmcv==$MMCV_VERSION"
  "$PY" -m pip install -q "setuptools$SETUPTOOLS_SPEC"
  mkdir -p "$(dirname "$out")"
  mv "$tmp/wheel"/mmcv-*.whl "$out.partial"
  mv "$out.partial" "$out"   # atomic: an interrupted build leaves no half wheel
  rm -rf "$tmp"
}

# The pinned packages, installed once per machine into a cached base
# environment; a repo's .venv is then a fresh venv whose site-packages are
# hard links to the base's (seconds instead of minutes for torch alone).
build_base_env() {
  local base="$1" bpy="$1/bin/python"
  log "building the base environment in $base (once per machine)"
  rm -rf "$base"
  python3 -m venv "$base"
  "$bpy" -m pip install -q --upgrade pip wheel
  "$bpy" -m pip install -q "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
  # mmcv's own runtime needs, since its wheel is installed with --no-deps below.
  "$bpy" -m pip install -q "mmengine==$MMENGINE_VERSION" "timm==$TIMM_VERSION" \
    "pycocotools==$PYCOCOTOOLS_VERSION" addict packaging Pillow pyyaml yapf \
    pytest scikit-image "onnx==$ONNX_VERSION" "onnxruntime==$ONNXRUNTIME_VERSION" \
    "openvino==$OPENVINO_VERSION" "onnxscript==$ONNXSCRIPT_VERSION"
  # cpu or cuda ops, decided from torch's CUDA build, a GPU and nvcc by
  # cream_det/mmcv_ops.py (which also stops the tools at run time): it prints
  # 'cuda CUDA_HOME' after taking NVIDIA's compiler wheels from PyPI, or stops.
  local choice flavour cuda_home
  choice="$("$bpy" -I "$ROOT/cream_det/mmcv_ops.py" setup --ops "${CREAM_DET_MMCV_OPS:-auto}" \
    --toolkit-dir "$CACHE/cuda")" || exit 1
  read -r flavour cuda_home <<<"$choice"
  local wheel="$WHEEL_CACHE/mmcv-$MMCV_VERSION-torch$TORCH_VERSION-$PYVER-$flavour.whl"
  [ -f "$wheel" ] || PY="$bpy" build_mmcv_wheel "$flavour" "$wheel" "$cuda_home"
  # The cached file is renamed; pip needs a valid wheel name to install it.
  local tmpw
  tmpw="$(mktemp -d)"
  cp "$wheel" "$tmpw/mmcv-$MMCV_VERSION-$PYVER-$PYVER-linux_x86_64.whl"
  "$bpy" -m pip install -q --no-deps "$tmpw"/*.whl
  rm -rf "$tmpw"
  "$bpy" -m pip install -q "mmdet==$MMDET_VERSION" "setuptools$SETUPTOOLS_SPEC"
  "$bpy" -c 'import mmcv.ops, mmdet, mmengine, timm' \
    || { log "the base environment does not import; see above"; exit 1; }
  echo "$STAMP" > "$base/.complete"
}

ensure_env() {
  local base="$CACHE/envs/$PYVER-$(echo "$STAMP" | sha1sum | cut -c1-12)"
  if [ -n "${CREAM_DET_REBUILD:-}" ]; then  # e.g. mmcv's CUDA ops, on a GPU machine now
    log "CREAM_DET_REBUILD: building the environment anew"
    rm -f "$VENV/.cream_det_env" "$base/.complete"
  fi
  if [ -f "$VENV/.cream_det_env" ] && [ "$(cat "$VENV/.cream_det_env")" = "$STAMP" ]; then
    return 0
  fi
  [ -f "$base/.complete" ] || build_base_env "$base"
  log "creating the environment in $VENV"
  rm -rf "$VENV"
  python3 -m venv --without-pip "$VENV"
  local purelib='import sysconfig; print(sysconfig.get_paths()["purelib"])' from to
  from="$("$base/bin/python" -c "$purelib")"
  to="$("$PY" -c "$purelib")"
  cp -al "$from/." "$to/" 2>/dev/null || cp -a "$from/." "$to/"
  "$PY" -m pip install -q --no-deps --no-build-isolation -e "$ROOT"
  "$PY" -c 'import cream_det' \
    || { log "the environment does not import cream_det; see above"; exit 1; }
  echo "$STAMP" > "$VENV/.cream_det_env"
  log "environment ready"
}

ensure_fashion_mnist() {
  local dir=/usr/share/datasets/fashion-mnist
  if [ ! -f "$dir/train-images-idx3-ubyte.gz" ]; then
    log "installing the Debian package dataset-fashion-mnist"
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null
    else
      sudo apt-get update -qq && sudo apt-get install -y -qq dataset-fashion-mnist >/dev/null
    fi
  fi
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
  env) ensure_env; ensure_fashion_mnist ;;
  test) ensure_env; ensure_fashion_mnist; cd "$ROOT"; exec "$PY" -m pytest tests "$@" ;;
  main) ensure_env; ensure_fashion_mnist; cd "$ROOT"; exec "$PY" tools/misc/main_job.py "$@" ;;
  *) echo "usage: bash tools/run.sh {main|test|env} [args...]" >&2; exit 2 ;;
esac
