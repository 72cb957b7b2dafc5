"""``calcifer worker``: the monitoring scheduler without the web app."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add this slice's commands to the `calcifer` command."""

    @app.command()
    def worker() -> None:
        """Run the monitoring scheduler without the web app, until SIGTERM or Ctrl-C.

        On PostgreSQL, several workers (on one or several machines) share the endpoints: each holds a
        lease on a share, rebalanced when a worker joins, stops or dies. On SQLite one scheduler runs at a
        time: a second worker (or web app) waits and takes over when the first stops. Set
        CALCIFER_MONITOR_IN_WEB=false on the web app when workers run the checks.
        """
        import asyncio
        import signal

        from calcifer.config import Settings
        from calcifer.logging import configure
        from calcifer.monitoring.runner import new_loop
        from calcifer.monitoring.scheduler import serve
        from calcifer.wiring import prepare

        settings = Settings()
        configure(fmt=settings.log_format.value, level=settings.log_level)
        ctx = prepare(settings, reconcile=False)  # wires this process: hooks, check types
        from calcifer.notify.service import start_notifier

        stop_notifier = start_notifier(ctx)  # alerts are sent where the scheduler runs
        from calcifer.plugins.events import start as start_plugin_events

        # Re-reads the plugin toggles every round (a plugin switched on again checks here too), and hands
        # events to plugins' subscribers (at most once among all processes).
        stop_plugin_events = start_plugin_events(ctx)
        how = ("sharing the endpoints with the other workers (PostgreSQL)" if ctx.engine.dialect.name == "postgresql"
               else "the only scheduler (SQLite: a second worker waits until this one stops)")
        typer.echo(f"Calcifer worker: monitoring scheduler, {how} (data: {settings.resolved_data_dir}); "
                   "stop with Ctrl-C or SIGTERM", err=True)

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, stop.set)
            # This process only schedules checks: the interpreter is tuned for the scheduler's loop.
            await serve(ctx, stop, tune_interpreter=True)

        loop = new_loop()
        try:
            loop.run_until_complete(main())
        finally:
            stop_plugin_events()
            stop_notifier()
            loop.close()
            ctx.engine.dispose()
        typer.echo("Calcifer worker stopped", err=True)


def register_probe(app: typer.Typer) -> None:
    """Add ``calcifer probe`` (remote probe: no database, only outgoing requests)."""
    @app.command()
    def probe(
        server: Annotated[str, typer.Option(help="The Calcifer server's URL, e.g. https://calcifer.example.org")],
        token: Annotated[str, typer.Option(help="The probe's token (Settings → Probes).",
                                           envvar="CALCIFER_PROBE_TOKEN")],
        data_dir: Annotated[Path, typer.Option(help="Where results wait while the server is unreachable.")] =
            Path("calcifer-probe"),
        ca_file: Annotated[str | None, typer.Option(help="PEM file of a private CA that signed the server's "
                                                         "certificate.")] = None,
        batch_seconds: Annotated[float, typer.Option(help="Seconds between uploads.")] = 1.0,
        poll_seconds: Annotated[float, typer.Option(help="Seconds between assignment checks (conditional).")] = 30.0,
        heartbeat_seconds: Annotated[float, typer.Option(help="Seconds between heartbeats.")] = 10.0,
        buffer_mb: Annotated[int, typer.Option(help="Largest on-disk buffer (MB); oldest dropped first.")] = 100,
        buffer_hours: Annotated[float, typer.Option(help="Oldest buffered result kept (hours).")] = 24.0,
    ) -> None:
        """Run a remote probe until SIGTERM or Ctrl-C: fetch assignments, check, upload results in batches."""
        import asyncio
        import logging
        import signal

        from calcifer.monitoring import checks
        from calcifer.monitoring.probe_agent import run
        from calcifer.monitoring.runner import new_loop

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        checks.load()  # the same check registry as the server
        typer.echo(f"Calcifer probe: server {server}, data {data_dir}; stop with Ctrl-C or SIGTERM", err=True)

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, stop.set)
            await run(server=server, token=token, data_dir=data_dir, ca_file=ca_file, stop=stop,
                      batch_seconds=batch_seconds, poll_seconds=poll_seconds, heartbeat_seconds=heartbeat_seconds,
                      max_bytes=buffer_mb * 1024 * 1024, max_age=buffer_hours * 3600)

        loop = new_loop()
        try:
            loop.run_until_complete(main())
        finally:
            loop.close()
        typer.echo("Calcifer probe stopped", err=True)
