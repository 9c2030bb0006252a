"""`langprune run | status | attach | logs | cancel | retry` (never imports torch)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import typer

from langprune.cli.common import command_hint, console, state
from langprune.errors import LangpruneError, disk_error
from langprune.vocab import DAMAGED, FINAL_STATES, WORKING_STATES

ACTIVE_COLORS = {
    "queued": "cyan",
    "running": "yellow",
    "done": "green",
    "failed": "red",
    "cancelled": "magenta",
}


def _parse_extra(options: list[str]) -> dict[str, str]:
    extra = {}
    for opt in options:
        key, sep, value = opt.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(
                f"{opt!r}: expected KEY=VALUE (an sbatch option)", param_hint="--slurm-opt"
            )
        extra[key.strip().lstrip("-")] = value
    return extra


def run(
    ctx: typer.Context,
    preset: str = typer.Argument(..., help="Preset name or path to a .toml file."),
    force: bool = typer.Option(
        False, "--force", help="Redo runs already done (a stored dense baseline is reused)."
    ),
    gpus: str | None = typer.Option(
        None, "--gpus", help="GPUs to use, e.g. 0,1,3 [default: all visible]."
    ),
    slots_per_gpu: int | None = typer.Option(
        None, "--slots-per-gpu", min=1, help="Workers per GPU."
    ),
    executor: str | None = typer.Option(
        None, "--executor", help="local or slurm [default: the preset's]."
    ),
    wait: bool = typer.Option(
        False, "--wait", help="Follow the grid to its end with progress bars."
    ),
    partition: str | None = typer.Option(None, "--slurm-partition", help="Slurm partition."),
    account: str | None = typer.Option(None, "--slurm-account", help="Slurm account."),
    qos: str | None = typer.Option(None, "--slurm-qos", help="Slurm QOS."),
    time_limit: str | None = typer.Option(
        None, "--slurm-time", help="Time limit per task, e.g. 04:00:00."
    ),
    array_parallelism: int | None = typer.Option(
        None, "--slurm-array-parallelism", min=1, help="Array tasks at once."
    ),
    cpus: int | None = typer.Option(None, "--slurm-cpus-per-task", min=1),
    mem_gb: int | None = typer.Option(None, "--slurm-mem-gb", min=1),
    slurm_opt: list[str] = typer.Option(
        [], "--slurm-opt", help="Extra sbatch option KEY=VALUE (repeatable)."
    ),
) -> None:
    """Launch a preset's grid in the background (local GPUs or Slurm); runs already done are skipped."""
    from langprune.engine.run.launcher import check_launch, launch
    from langprune.engine.spec import preflight, presets

    if executor not in (None, "local", "slurm"):
        raise typer.BadParameter(f"{executor!r} (allowed: local, slurm)", param_hint="--executor")
    exp = presets.load(preset, state(ctx).workspace_path())
    preflight.check(exp)  # what the grid needs from this machine, before anything is written
    overrides: dict[str, Any] = {
        "partition": partition,
        "account": account,
        "qos": qos,
        "time": time_limit,
        "array_parallelism": array_parallelism,
        "cpus_per_task": cpus,
        "mem_gb": mem_gb,
        "extra": _parse_extra(slurm_opt) or None,
    }
    # Everything is checked before the workspace is created or anything is written in it.
    check_launch(exp, executor=executor, gpus=gpus, slurm=overrides)
    ws = state(ctx).workspace(create=True)
    result = launch(
        exp,
        ws,
        force=force,
        executor=executor,
        gpus=gpus,
        slots_per_gpu=slots_per_gpu,
        slurm=overrides,
    )
    out = console()
    out.print(
        f"{exp.name}: {len(result.queued)} queued, {len(result.skipped)} skipped (done or running) "
        f"[{result.executor}]"
    )
    if result.damaged:
        print(
            f"note: {len(result.damaged)} damaged run(s) left alone: {' '.join(result.damaged)} "
            "(langprune status shows why; --force or langprune retry ID runs one again)",
            file=sys.stderr,
        )
    if result.executor == "local" and result.queued:
        how = "started" if result.scheduler_started else "reusing"
        out.print(f"scheduler: {how} pid {result.scheduler_pid} (workspace {ws})")
    if result.job_ids:
        out.print(f"slurm jobs: {', '.join(result.job_ids)}")
    if not result.queued:
        return
    if wait:
        from langprune.engine.run.monitor import views

        follow(ws, [v.id for v in views(ws, result.queued)], command_hint(ctx, "attach"))
    else:
        out.print(
            "runs continue in the background; follow with: "
            f"{command_hint(ctx, 'status --watch')} | {command_hint(ctx, 'attach')}",
            soft_wrap=True,
        )


def _refresh(ws: Path) -> None:
    """Mark vanished workers' runs and bring the store up to date (both cheap when nothing
    changed). A full disk stops neither from showing the runs as they are: a note says so."""
    from langprune.store.ingest import ingest

    try:
        _revive(ws)
    except Exception as exc:
        problem = disk_error(exc)
        if problem is None:
            raise
        _note("run states not updated", problem)
    try:
        ingest(ws, timeout=5)
    except LangpruneError as exc:  # a busy or damaged store must not hide the runs
        _note("results not ingested yet", exc)
    except Exception as exc:
        problem = disk_error(exc)
        if problem is not None:
            _note("results not ingested yet", problem)
        else:
            print(f"note: results not ingested yet ({type(exc).__name__}: {exc})", file=sys.stderr)


def _note(what: str, exc: LangpruneError) -> None:
    print(f"note: {what}: {exc.message}", file=sys.stderr)
    if exc.fix:
        print(f"fix: {exc.fix}", file=sys.stderr)


def _revive(ws: Path) -> None:
    """Mark runs of vanished workers lost; queued local runs and no scheduler (the machine
    rebooted, say): start one again, saying so (status, attach, run --wait)."""
    from langprune.engine.run.launcher import revive_scheduler
    from langprune.engine.run.state import refresh_lost

    refresh_lost(ws)
    pid = revive_scheduler(ws)
    if pid is not None:
        print(f"note: queued runs had no scheduler; started one (pid {pid})", file=sys.stderr)


def _queue_order(items: list[Any]) -> list[Any]:
    """Queued runs in the order the scheduler starts them (oldest queued first)."""
    return sorted(items, key=lambda v: float(v.status.get("queued_at") or 0))


# from this width the running runs are one table row each; below it, two lines each
WIDE_STATUS = 120


def _running_cells(v: Any) -> dict[str, str]:
    """What `status` shows of a running run, by column name."""
    from langprune.engine.run import monitor
    from langprune.tui.render import iso_time

    e = v.event or {}
    return {
        "stage": v.stage_text,
        "progress": f"{v.fraction * 100:.0f}%",
        "tok/s": f"{e['tokens_per_s']:.0f}" if e.get("tokens_per_s") else "-",
        "mem": monitor.human_bytes(e.get("mem_bytes")),
        "ETA": monitor.human_seconds(e.get("eta_s")),
        "device": str(v.status.get("job_id") or v.status.get("device") or "-"),
        "started": iso_time(v.status.get("running_at")),
    }


def _running_table(active: list[Any]) -> Any:
    """Running runs on a wide terminal: one row each."""
    from langprune.tui.render import listing_table

    table = listing_table("running")
    table.add_column("id", no_wrap=True, min_width=12, style="bold")
    table.add_column("run", overflow="fold", ratio=1)
    for name in ("stage", "progress", "tok/s", "mem", "ETA", "device", "started"):
        table.add_column(name, no_wrap=True)
    for v in active:
        table.add_row(v.id, v.label, *_running_cells(v).values())
    return table


def _running_lines(active: list[Any]) -> Any:
    """Running runs on a narrow terminal: the id, start time and run on one line, then its
    progress, so nothing is squeezed into a column of a few cells (80 columns hold both)."""
    from rich.console import Group
    from rich.text import Text

    lines: list[Any] = [Text("running", style="bold")]
    for v in active:
        cells = _running_cells(v)
        head = Text(" ")
        head.append(v.id, style="bold")
        head.append(f"  {cells['started']}  {v.label}")
        lines.append(head)
        tail = f"{cells['stage']}  {cells['progress']}  {cells['tok/s']} tok/s  {cells['mem']}"
        lines.append(Text(f"   {tail}  ETA {cells['ETA']}  on {cells['device']}"))
    return Group(*lines)


def _status_renderable(ws: Path, width: int = WIDE_STATUS) -> Any:
    """The workspace read, counts by state, then running runs, the queue in the order it will
    run, and failed runs. Run ids are never cut (other columns wrap instead), so any id shown
    can be pasted into `logs`, `cancel` or `retry`; times are ISO 8601."""
    from rich.console import Group
    from rich.text import Text

    from langprune.engine.run import monitor, registry
    from langprune.tui.render import STATE_STYLE, listing_table, workspace_line

    items = monitor.views(ws)
    counts = monitor.counts(items)
    head = Text(f"{len(items)} runs: ")
    # the rarer states only when some run is in them, so the line fits 80 columns
    listed = {s: n for s, n in counts.items() if n or s in ("queued", "running", "done", "failed")}
    for i, (s, n) in enumerate(listed.items()):
        head.append("  " * (i > 0))
        head.append(f"{n} {s}", style=STATE_STYLE.get(s, "") if n else "")
    parts: list[Any] = [workspace_line(ws), head]
    sched = registry.scheduler_info(ws)
    parts.append(Text(f"scheduler: {'pid ' + str(sched.get('pid')) if sched else 'not running'}"))
    active = [v for v in items if v.state in WORKING_STATES]
    if active:
        parts.append(_running_table(active) if width >= WIDE_STATUS else _running_lines(active))
    queued = _queue_order([v for v in items if v.state == "queued"])
    if queued:
        shown = queued[:20]
        more = f" (+{len(queued) - len(shown)} more)" if len(queued) > len(shown) else ""
        parts.append(Text(f"queued, next first{more}:"))
        parts.append(Text(" ".join(v.id for v in shown)))
    failed = [v for v in items if v.state == "failed"]
    if failed:
        table = listing_table("failed")
        table.add_column("id", no_wrap=True, min_width=12, style="bold")
        for name in ("run", "error"):
            table.add_column(name, overflow="fold")
        for v in failed:
            table.add_row(v.id, v.label, str(v.status.get("error") or ""))
        parts.append(table)
    for v in items:  # a damaged run: the file, the reason and the fix, in full
        if v.state == DAMAGED:
            parts.append(Text(f"damaged {v.id}: {(v.error or '').removeprefix('damaged: ')}",
                              style="bold red"))  # fmt: skip
            parts.append(Text(f"  fix: {v.fix}"))
    return Group(*parts)


def status(
    ctx: typer.Context,
    watch: bool = typer.Option(False, "--watch", help="Refresh every second until Ctrl-C."),
) -> None:
    """Runs by state; active ones with stage, progress and ETA; failed ones with their error."""
    ws = state(ctx).workspace()
    _refresh(ws)
    out = console()
    if not watch:
        out.print(_status_renderable(ws, out.width))
        return
    from rich.live import Live

    try:
        with Live(_status_renderable(ws, out.width), console=out, refresh_per_second=2) as live:
            last = time.time()
            while True:
                time.sleep(1)
                if time.time() - last > 10:
                    _refresh(ws)
                    last = time.time()
                live.update(_status_renderable(ws, out.width))
    except KeyboardInterrupt:
        pass


def follow(ws: Path, run_ids: list[str] | None, hint: str = "langprune attach") -> None:
    """Progress bars of the given runs (None = every unfinished one, new ones included) until all
    are finished. Ctrl-C only stops watching. Exits 1 when any watched run ended failed or
    cancelled (naming them), so a script can trust the exit code.

    A run gets its bar when it starts; the queue is one line (how many, and the next ids in the
    order they will run), so the running runs are never buried under queued ones."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from langprune.engine.run import monitor
    from langprune.tui.render import workspace_line

    out = console()
    _revive(ws)
    follow_all = run_ids is None
    watched: list[str] = list(run_ids or [v.id for v in monitor.views(ws) if v.active])
    out.print(workspace_line(ws))
    if not watched:
        out.print("no active runs")
        return
    bars = Progress(
        # markup=False: labels and errors are the user's text, shown as it is
        TextColumn("{task.fields[rid]}", markup=False),
        TextColumn("{task.description}", style="bold", markup=False),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[info]}", markup=False),
        TimeRemainingColumn(),
        console=out,
        refresh_per_second=4,
    )
    tasks: dict[str, Any] = {}
    queue_task: Any = None
    last_check = 0.0
    try:
        with bars:
            while True:
                if time.time() - last_check > 3:
                    _revive(ws)
                    last_check = time.time()
                    if follow_all:
                        watched += [
                            v.id for v in monitor.views(ws) if v.active and v.id not in watched
                        ]
                items = monitor.views(ws, watched)
                waiting = _queue_order([v for v in items if v.state == "queued"])
                started = [v for v in items if v.state != "queued"]
                # running first, then the ones that finished while watched
                started.sort(key=lambda v: v.state not in WORKING_STATES)
                for v in started:
                    if v.id not in tasks:
                        tasks[v.id] = bars.add_task(v.label, total=100, rid=v.id, info="")
                    info = v.stage_text if v.state in WORKING_STATES else v.state
                    if v.state == "failed":
                        info = f"failed: {v.status.get('error', '')}"[:80]
                    bars.update(tasks[v.id], completed=v.fraction * 100, info=info)
                if waiting:
                    nxt = " ".join(v.id for v in waiting[:3])
                    info = f"next: {nxt}{' ...' if len(waiting) > 3 else ''}"
                    if queue_task is None:
                        queue_task = bars.add_task("queued", total=None, rid="", info="")
                    bars.update(
                        queue_task, description=f"{len(waiting)} queued", info=info, visible=True
                    )
                elif queue_task is not None:
                    bars.update(queue_task, visible=False)
                if all(not v.active for v in items):
                    break
                time.sleep(0.5)
    except KeyboardInterrupt:
        out.print(f"detached; the runs continue ({hint} to watch again)")
        return
    done = monitor.counts(monitor.views(ws, watched))
    out.print("finished: " + ", ".join(f"{n} {s}" for s, n in done.items() if n))
    try:
        from langprune.store.ingest import ingest

        ingest(ws, timeout=10)
    except Exception as exc:
        print(f"note: results not ingested yet ({type(exc).__name__}: {exc})", file=sys.stderr)
    bad = [v for v in monitor.views(ws, watched) if v.state in ("failed", "cancelled")]
    if bad:
        for v in bad:
            print(f"error: run {v.id} {v.state}: {v.status.get('error') or ''}", file=sys.stderr)
        raise typer.Exit(1)


def attach(ctx: typer.Context) -> None:
    """Live progress bars of all active runs until they finish; Ctrl-C detaches (runs continue)."""
    follow(state(ctx).workspace(), None, command_hint(ctx, "attach"))


def logs(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., help="Run id (or a unique prefix)."),
    follow: bool = typer.Option(
        False, "--follow", "-f", help="Keep printing as the log grows, until the run ends."
    ),
) -> None:
    """Print a run's log (its worker's output; progress bars at their last frame); -f streams it
    until the run ends (a queued run: from when it starts)."""
    from langprune.engine.run.launcher import find_runs
    from langprune.store.rundir import collapse_frames

    ws = state(ctx).workspace()
    (rd,) = find_runs(ws, [run_id])
    paths = [rd.log]
    job = rd.status().get("job_id")
    if job:
        from langprune.engine.run.state import log_files

        paths += log_files(ws, str(job))
    offsets = {p: 0 for p in paths}
    pending = {p: b"" for p in paths}

    def pump(final: bool = False) -> None:
        """Print the whole lines added since the last call (a line still being drawn, such as a
        progress bar, waits for its end unless this is the last call)."""
        for p in paths:
            try:
                with open(p, "rb") as fh:
                    fh.seek(offsets[p])
                    data = fh.read()
            except FileNotFoundError:
                continue
            offsets[p] += len(data)
            data = pending[p] + data
            cut = len(data) if final else data.rfind(b"\n") + 1
            pending[p] = data[cut:]
            if data[:cut]:
                if p != rd.log and offsets[p] == len(data):
                    sys.stdout.write(f"--- {p}\n")
                text = collapse_frames(data[:cut].decode("utf-8", "replace"))
                sys.stdout.write(text if text.endswith("\n") else text + "\n")
                sys.stdout.flush()

    if not follow:
        pump(final=True)
        return
    pump()
    run_state = rd.state()
    if run_state in FINAL_STATES and not rd.is_locked():
        pump(final=True)
        print(f"(run {rd.id} is {run_state}: nothing to follow)", file=sys.stderr)
        return
    if run_state == "queued":
        print(f"(run {rd.id} is queued: waiting for it to start)", file=sys.stderr)
    try:
        while True:
            time.sleep(0.5)
            pump()
            run_state = rd.state()
            if run_state in FINAL_STATES and not rd.is_locked():
                pump(final=True)
                print(f"(run {rd.id} ended: {run_state})", file=sys.stderr)
                return
    except KeyboardInterrupt:
        pass


def _chosen(ws: Path, targets: list[str] | None, *, everything: bool) -> tuple[list[Any], bool]:
    """The runs named by `targets` (run ids or unique prefixes, and filter terms as `results`
    takes them: experiment=smoke state=failed method=sparsegpt), as RunRecords; with
    `everything`, every run. Ids and terms together: the named runs the terms keep. Also says
    whether this was a bulk request (a filter, --all, or more than one run)."""
    from langprune.engine.run.launcher import find_runs
    from langprune.store import filters, records

    targets = list(targets or [])
    terms = [t for t in targets if filters.is_term(t)]
    ids = [t for t in targets if not filters.is_term(t)]
    conditions = filters.parse_filter(terms)  # a bad term: the same message as `results`
    if ids:
        dirs = find_runs(ws, ids)
    elif terms or everything:
        dirs = find_runs(ws, None)
    else:
        dirs = []
    rows = filters.filter_records([records.read(rd) for rd in dirs], conditions)
    return rows, bool(terms) or everything or len(rows) > 1


def _confirm(question: str, yes: bool) -> bool:
    """Ask `question` on the terminal; --yes answers for the user. Without a terminal to ask
    on and without --yes, refuse (one line, exit 2): a script must say --yes."""
    if yes:
        return True
    if not sys.stdin.isatty():
        raise LangpruneError(f"{question} Not confirmed: stdin is not a terminal (add --yes)")
    answer = input(f"{question} [y/N] ").strip().lower()
    return answer in ("y", "yes")


def cancel(
    ctx: typer.Context,
    targets: list[str] = typer.Argument(
        None, help="Run ids (or unique prefixes) and/or filter terms, e.g. experiment=smoke."
    ),
    all_: bool = typer.Option(False, "--all", help="Cancel every queued or running run."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before stopping work."),
) -> None:
    """Stop runs: queued ones never start; running ones stop within 5 s (the whole worker).

    Takes run ids and the filter terms of `results` (`langprune cancel experiment=smoke
    state=running`). Asks first when running work would stop or more than one run is meant.
    """
    from langprune.engine.run.launcher import cancel as do_cancel
    from langprune.tui.render import action_question

    if not targets and not all_:
        raise LangpruneError(
            "cancel: name runs (ids or filter terms such as experiment=smoke), or --all"
        )
    ws = state(ctx).workspace()
    rows, bulk = _chosen(ws, targets, everything=all_)
    active = [r for r in rows if r.active]
    for r in rows:
        if not r.active and not bulk:
            typer.echo(f"{r.id}: already {r.state}")
    if not active:
        if bulk:
            typer.echo("nothing to cancel")
        return
    if bulk or any(r.state == "running" for r in active):
        question = action_question("Cancel", active, "Running work is lost.")
        if not _confirm(question, yes):
            typer.echo("not cancelled")
            return
    outcome = do_cancel(ws, [r.id for r in active])
    for rid, what in outcome.items():
        typer.echo(f"{rid}: {what}")


def retry(
    ctx: typer.Context,
    targets: list[str] = typer.Argument(
        None, help="Run ids (or unique prefixes) and/or filter terms, e.g. state=failed."
    ),
    failed: bool = typer.Option(False, "--failed", help="Every failed run."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before redoing runs."),
    partition: str | None = typer.Option(
        None, "--slurm-partition", help="Slurm runs: resubmit to this partition."
    ),
    account: str | None = typer.Option(None, "--slurm-account", help="Slurm runs: account."),
    qos: str | None = typer.Option(None, "--slurm-qos", help="Slurm runs: QOS."),
    time_limit: str | None = typer.Option(None, "--slurm-time", help="Slurm runs: time limit."),
    cpus: int | None = typer.Option(None, "--slurm-cpus-per-task", min=1),
    mem_gb: int | None = typer.Option(None, "--slurm-mem-gb", min=1),
    slurm_opt: list[str] = typer.Option(
        [], "--slurm-opt", help="Extra sbatch option KEY=VALUE (repeatable)."
    ),
    slurm_drop: list[str] = typer.Option(
        [], "--slurm-drop", help="Leave out an extra sbatch option of the last submission."
    ),
) -> None:
    """Run runs again from scratch (no arguments: every failed and cancelled one).

    Takes run ids and the filter terms of `results` (`langprune retry state=failed
    method=sparsegpt`). Asks first when a done run would be redone or more than one run is meant.
    Queued and running runs are left alone.
    """
    from langprune.engine.run.launcher import retry as do_retry
    from langprune.tui.render import action_question

    ws = state(ctx).workspace()
    if failed:
        targets = [*(targets or []), "state=failed"]
    elif not targets:
        targets = ["state=failed,cancelled"]
    rows, bulk = _chosen(ws, targets, everything=False)
    # after the terms are checked (bad input starts nothing): queued runs left without a
    # scheduler start again, even when nothing is retried
    _revive(ws)
    ready = [r for r in rows if not r.active]
    left = len(rows) - len(ready)
    if not ready:
        typer.echo("queued again: nothing" + (f" ({left} queued or running)" if left else ""))
        return
    if bulk or any(r.state == "done" for r in ready):
        note = "They start from scratch"
        if any(r.state == "done" for r in ready):
            note += "; the results of done runs are discarded"
        note += f" ({left} queued or running left alone)." if left else "."
        if not _confirm(action_question("Retry", ready, note), yes):
            typer.echo("not retried")
            return
    overrides: dict[str, Any] = {
        "partition": partition,
        "account": account,
        "qos": qos,
        "time": time_limit,
        "cpus_per_task": cpus,
        "mem_gb": mem_gb,
        "extra": _parse_extra(slurm_opt) or None,
    }
    queued = do_retry(ws, [r.id for r in ready], slurm=overrides, slurm_drop=slurm_drop)
    typer.echo(f"queued again: {' '.join(queued) if queued else 'nothing'}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("run")(run)
    app.command("status")(status)
    app.command("attach")(attach)
    app.command("logs")(logs)
    app.command("cancel")(cancel)
    app.command("retry")(retry)
