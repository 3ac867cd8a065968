"""The FastAPI application: API under /api/v1, browser pages, static assets, metrics."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from hotline import __version__
from hotline.config import Settings
from hotline.cti.center import ContactCenter
from hotline.cti.service import Telephony
from hotline.store import migrate
from hotline.store.db import create_engine, session_factory
from hotline.tickets.sweeper import UploadSweeper
from hotline.utility.backend import load_backend
from hotline.web import problems
from hotline.web.api import accounts as accounts_api
from hotline.web.api import (
    agents,
    auth,
    calls,
    codes,
    customers,
    extensions,
    ivr,
    ivrgraph,
    org,
    profiles,
    system,
    users,
)
from hotline.web.api import control as call_control
from hotline.web.api import events as events_api
from hotline.web.api import messages as messages_api
from hotline.web.api import outages as outages_api
from hotline.web.api import screenpop as screenpop_api
from hotline.web.api import stats as stats_api
from hotline.web.api import tariffs as tariffs_api
from hotline.web.api import ticket_admin as ticket_admin_api
from hotline.web.api import ticket_stats as ticket_stats_api
from hotline.web.api import tickets as tickets_api
from hotline.web.api import webhooks as webhooks_api
from hotline.web.context import AppState
from hotline.web.metrics import Metrics, MetricsMiddleware
from hotline.web.ui import admin as admin_ui
from hotline.web.ui import admin_customers, admin_outages, admin_tariffs, pages
from hotline.web.ui import desk as desk_ui
from hotline.web.ui import tickets as tickets_ui
from hotline.web.ui import wallboard as wallboard_ui

log = logging.getLogger("hotline.web")

DESCRIPTION = """
Hotline's public API. Authenticate with `POST /api/v1/auth/token` and send
`Authorization: Bearer <token>`. Errors are RFC 7807 problem documents
(`application/problem+json`) naming the offending field.
"""


def create_app(settings: Settings, *, run_migrations: bool = True) -> FastAPI:
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url, echo=settings.database.echo)
        if run_migrations:
            await migrate.upgrade(engine)
        factory = session_factory(engine)
        try:
            billing = load_backend(settings.utility.backend, factory)
        except ValueError as exc:
            await engine.dispose()
            raise RuntimeError(str(exc)) from exc
        center = ContactCenter(factory, billing=billing)
        await center.start()
        sweeper = UploadSweeper(
            factory, settings.data_dir, max_age=timedelta(hours=settings.tickets.upload_max_age_hours)
        )
        sweeper.start()
        telephony = Telephony(settings, factory, center) if settings.sip.enabled else None
        if telephony is not None:
            try:
                await telephony.start()
            except OSError as exc:
                await sweeper.stop()
                await center.stop()
                await engine.dispose()
                raise RuntimeError(
                    f"cannot start SIP on {settings.sip.host}:{settings.sip.port}: {exc.strerror or exc}"
                ) from exc
        if telephony is not None:
            metrics.add_telephony(telephony.stats)
        app.state.hotline = AppState(
            settings=settings, db=factory, metrics=metrics, telephony=telephony, center=center
        )
        log.info(
            "hotline %s ready on %s (database %s)",
            __version__,
            settings.base_url,
            engine.url.render_as_string(hide_password=True),
        )
        try:
            yield
        finally:
            if telephony is not None:
                await telephony.stop()
            await sweeper.stop()
            await center.stop()
            await engine.dispose()
            log.info("hotline stopped")

    app = FastAPI(
        title="Hotline API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    problems.install(app)
    # routes are matched in this order, one by one (each costs a few microseconds): the busiest
    # API (work orders, created and listed all day by every agent and handler) comes first. The
    # ticket statistics and admin routers stay before the tickets router (their paths would match
    # its /tickets/{key}); /tickets itself matches none of theirs, so it goes first of all.
    routers = (
        tickets_api.collection,
        ticket_stats_api.router,
        ticket_admin_api.router,
        tickets_api.router,
        system.router,
        auth.router,
        org.router,
        users.router,
        customers.router,
        extensions.router,
        calls.router,
        call_control.router,
        ivr.router,
        agents.router,
        stats_api.router,
        messages_api.router,
        events_api.router,
        webhooks_api.router,
        pages.router,
        codes.router,
        ivrgraph.router,
        profiles.router,
        admin_ui.router,
        wallboard_ui.router,
        desk_ui.router,
        tariffs_api.router,
        accounts_api.router,
        screenpop_api.router,
        outages_api.router,
        admin_customers.router,
        admin_tariffs.router,
        admin_outages.router,
        tickets_ui.router,
    )
    for router in routers:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "ui" / "static")), name="static")
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
