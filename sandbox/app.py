"""The aiohttp application: fal's queue, REST storage and CDN paths at one root, plus /_sandbox/."""

from __future__ import annotations

from aiohttp import web

from . import control_routes, files_routes, platform_routes, queue_routes, storage_routes
from .config import SandboxConfig
from .gateway import gateway
from .state import STATE, SandboxState


def create_app(config: SandboxConfig | None = None) -> web.Application:
    app = web.Application(middlewares=[gateway], client_max_size=1024 ** 3)
    state = SandboxState()
    if config is not None:
        state.config = config
    app[STATE] = state
    control_routes.add_routes(app)
    platform_routes.add_routes(app)
    router = app.router
    router.add_post("/storage/auth/token", storage_routes.auth_token)
    router.add_post("/storage/upload/initiate", storage_routes.initiate)
    router.add_post("/storage/upload/initiate-multipart", storage_routes.initiate_multipart)
    router.add_put("/storage/put/{upload_id}", storage_routes.signed_put)
    router.add_put("/storage/multipart/{upload_id}/{part}", storage_routes.rest_part)
    router.add_post("/storage/multipart/{upload_id}/complete", storage_routes.rest_complete)
    router.add_post("/files/upload", storage_routes.cdn_upload)
    router.add_post("/files/upload/multipart", storage_routes.cdn_multipart_start)
    router.add_get("/files/{tail:.+}", files_routes.serve_file)  # add_get also answers HEAD
    router.add_put("/files/{tail:.+}", storage_routes.cdn_multipart_step)
    router.add_post("/files/{tail:.+}", storage_routes.cdn_multipart_step)
    router.add_route("*", "/{tail:.*}", queue_routes.queue_dispatch)
    app.on_shutdown.append(_stop_jobs)
    return app


async def _stop_jobs(app: web.Application) -> None:
    app[STATE].jobs.clear()
