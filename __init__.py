"""comfyui-luma-fal: Luma Ray 3.2 and Uni-1 on fal.ai as ComfyUI nodes, with your own fal key.

ComfyUI loads this file at start-up and calls ``comfy_entrypoint``, which adds the pack's routes, starts
following requests a stopped ComfyUI left in flight, and hands ComfyUI the node list.
"""

WEB_DIRECTORY = "./web"


async def comfy_entrypoint():
    # Imported on call: pytest imports this file as a lone module when it collects the tests (the checkout's
    # root is a package to it), where a relative import fails; ComfyUI imports it as the pack's package.
    from .nodes.comfy.extension import LumaFalExtension, register_routes_once, start_background_work_once

    register_routes_once()
    start_background_work_once()
    return LumaFalExtension()
