"""Wire a running instance: database, ingest writer, pipeline loops, routes and error handlers."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from liberation_guardian import __version__
from liberation_guardian.act.notify import templates
from liberation_guardian.act.notify.base import Channel
from liberation_guardian.act.notify.console import ConsoleChannel
from liberation_guardian.act.upstream import channels as upstream_channels
from liberation_guardian.agents import AgentLoop
from liberation_guardian.api.feedback import router as feedback_router
from liberation_guardian.api.patterns import router as patterns_router
from liberation_guardian.api.playbooks import router as playbooks_router
from liberation_guardian.api.recommendations import router as recommendations_router
from liberation_guardian.api.routes import router as api_router
from liberation_guardian.api.silences import router as silences_router
from liberation_guardian.config import LoadedConfig
from liberation_guardian.decide.policy import Policy
from liberation_guardian.learn.patterns import seed_playbooks, seed_shipped
from liberation_guardian.learn.retention import purge
from liberation_guardian.observe.health import router as health_router
from liberation_guardian.observe.metrics import Metrics
from liberation_guardian.pipeline.build import build_stages
from liberation_guardian.pipeline.process import Processor
from liberation_guardian.pipeline.runner import Runner
from liberation_guardian.pipeline.stages import Stage, TriageStage
from liberation_guardian.receive.ingest import IngestWriter
from liberation_guardian.receive.slack_actions import router as slack_actions_router
from liberation_guardian.receive.state import Receiver
from liberation_guardian.receive.webhook import WebhookMiddleware
from liberation_guardian.store.db import make_engine, migrate, sessions, transaction
from liberation_guardian.store.models import utcnow

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """The parts of a running instance that have a lifecycle."""

    engine: Engine
    sessions: sessionmaker[Session]
    writer: IngestWriter
    runner: Runner | None
    alive: bool = False


def channels_of(config: LoadedConfig) -> dict[str, Channel]:
    """An instance of every enabled channel, the console log always among them, and of every upstream action."""
    channels: dict[str, Channel] = {}
    for name in config.channels:
        channel = config.channel(name)
        if channel is not None:
            channels[name] = channel
    channels.setdefault("console", ConsoleChannel(ConsoleChannel.config_model(), {}))
    # Telling a source its incident is acknowledged goes through the same outbox and delivery loops.
    channels.update(upstream_channels(config))
    return channels


def create_app(config: LoadedConfig, *, notify: bool = True) -> FastAPI:
    """The ASGI app; its lifespan opens the database and starts the pipeline loops."""
    # Notification wording is process-wide; the instance speaks with its configuration's templates.
    templates.activate(config.templates)
    metrics = Metrics()
    engine = make_engine(config.database_url)
    factory = sessions(engine)
    runtime = Runtime(
        engine=engine,
        sessions=factory,
        writer=IngestWriter(factory, environment=config.settings.core.environment),
        runner=None,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        migrate(engine)
        learning = config.settings.learning
        with transaction(factory) as session:
            seed_shipped(session, learning, utcnow())
            seed_playbooks(session, utcnow())
        policy = app.state.policy
        stages = build_stages(config, policy)
        _warm_up(factory, stages)
        processor = Processor(factory, stages, metrics, policy.dispatcher)
        runner = Runner(
            factory,
            processor,
            channels_of(config) if notify else {},
            config.settings.delivery,
            metrics,
            housekeeping=partial(purge, factory, learning.knowledge_base.retention_days),
        )
        runtime.runner = runner
        runtime.writer.on_commit = runner.wake
        app.state.runner_wake = runner.wake_deliveries
        # Model requests of the analysis and triage agents, asked outside the processing transaction.
        agents = AgentLoop.build(config, factory, policy, wake_deliveries=runner.wake_deliveries)
        runtime.writer.start()
        runner.start()
        if agents is not None:
            agents.start()
        runtime.alive = True
        log.info("ready", extra={"sources": sorted(config.sources), "channels": sorted(channels_of(config))})
        try:
            yield
        finally:
            runtime.alive = False
            runtime.writer.stop()
            runner.stop()
            if agents is not None:
                agents.stop()
            engine.dispose()

    app = FastAPI(title="Liberation Guardian", version=__version__, lifespan=lifespan)
    app.state.config = config
    app.state.admin_token = config.admin_token
    app.state.engine = engine
    app.state.sessions = factory
    app.state.metrics = metrics
    app.state.runtime = runtime
    app.state.policy = Policy(config)
    app.state.runner_wake = lambda: None
    receiver = Receiver(
        sources=config.endpoints(),
        writer=runtime.writer,
        max_body_bytes=config.settings.core.max_body_bytes,
        metrics=metrics,
    )
    app.add_middleware(WebhookMiddleware, receiver=receiver)
    app.include_router(api_router)
    app.include_router(silences_router)
    app.include_router(feedback_router)
    app.include_router(patterns_router)
    app.include_router(playbooks_router)
    app.include_router(recommendations_router)
    app.include_router(health_router)
    app.include_router(slack_actions_router)
    _install_error_handlers(app)
    return app


def _warm_up(factory: sessionmaker[Session], stages: list[Stage]) -> None:
    """Let the learning deciders read what the store knows now, before the first event has to wait for it."""
    started = time.perf_counter()
    with transaction(factory) as session:
        for stage in stages:
            if isinstance(stage, TriageStage):
                stage.chain.sync(session)
    log.info("knowledge loaded", extra={"seconds": round(time.perf_counter() - started, 2)})


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(
            {"error": exc.detail, "status": exc.status_code}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return JSONResponse({"error": "; ".join(problems), "status": 422}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", extra={"path": request.url.path})
        return JSONResponse({"error": "internal error; see the server log", "status": 500}, status_code=500)
