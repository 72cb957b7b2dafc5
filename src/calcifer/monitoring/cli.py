"""``calcifer worker``: the monitoring scheduler without the web app."""

from __future__ import annotations

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
            stop_notifier()
            loop.close()
            ctx.engine.dispose()
        typer.echo("Calcifer worker stopped", err=True)
