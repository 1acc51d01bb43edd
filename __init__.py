"""comfyui-luma-fal: Luma Ray 3.2 and Uni-1 on fal.ai as ComfyUI nodes, with your own fal key.

ComfyUI loads this file at start-up. It imports nothing heavy: the node classes load when ComfyUI
calls ``comfy_entrypoint``, and the HTTP client, PyAV and the request models wait for first use.
"""

WEB_DIRECTORY = "./web"


async def comfy_entrypoint():
    from .nodes.comfy.extension import LumaFalExtension, register_routes_once, start_background_work_once

    register_routes_once()
    start_background_work_once()
    return LumaFalExtension()
