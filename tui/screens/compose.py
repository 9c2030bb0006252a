"""Compose screen: build an experiment grid, see it validated as you type, save it, launch it.

Every change schedules a validation in a thread worker (debounced): the form becomes a preset dict,
`presets.from_dict` validates it, `form.plain` words each problem next to its field, and the grid
preview counts runs as a product (`form.grid_sentence`), runs already done, and estimates device
time from past runs of the model. Fields the form has no widget for (analysis, Slurm, task
options, model labels) are set with ctrl+t: the form as preset TOML in $EDITOR (the app
suspended), read back, validated and put into the form; a TOML error stays on screen and the
next ctrl+t reopens the edited text. Saving over a workspace or shipped preset's name asks first.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import (
    Button,
    Checkbox,
    Footer,
    Input,
    Label,
    Select,
    SelectionList,
    Static,
)

from langprune.engine.spec.experiment import CORPUS_SOURCES
from langprune.engine.spec.languages import LANGUAGES, PAPER_LANGUAGES
from langprune.store.fs import write_text_atomic
from langprune.tui import form
from langprune.tui.messages import ActionDone, FormLoaded, Launched, PresetData, PreviewReady
from langprune.tui.runstate import format_duration
from langprune.tui.screens.base import LangpruneScreen
from langprune.vocab import METHODS

# The grid offers the paper's languages first, then other widely covered ones; any other ISO code
# or a mix goes in the text field below the grid.
GRID_LANGUAGES = (*PAPER_LANGUAGES, "fr", "it", "pt", "ja", "ko", "hi", "tr", "vi", "id")
BLANK = "(blank)"
DEBOUNCE_S = 0.15


def preset_file_name(name: str) -> str:
    """The file stem a preset of this experiment name is saved under."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name.strip())


def editor_command() -> list[str]:
    """$VISUAL, else $EDITOR, else vi (as git does), split as a shell would."""
    return shlex.split(os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi")


def _error_label(key: str) -> Static:
    return Static("", id=f"err-{key}", classes="field-error")


class ComposeScreen(LangpruneScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save preset", priority=True),
        Binding("ctrl+l", "launch", "Launch", priority=True),
        Binding("ctrl+t", "edit_toml", "Edit as TOML", priority=True),
        Binding("escape", "leave_field", "Leave field", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.generation = 0
        self.valid: Any | None = None  # the validated Experiment
        self.base: dict[str, Any] = {}
        self._timer: Timer | None = None
        self._loading = False
        self.default_corpus = form.default_corpus()
        self.toml_draft: str | None = None  # edited TOML that did not parse, reopened next time
        self.toml_error = ""  # why it did not (shown above the problems)

    # ---- layout ----
    def compose(self) -> ComposeResult:
        yield Static(
            "compose · a grid of models × methods × sparsities × languages × seeds",
            classes="bar",
            id="compose-summary",
        )
        # not a Tab stop of its own (the first Tab would land on an invisible scroller)
        with VerticalScroll(id="compose-form", can_focus=False):
            with Horizontal(classes="inline-row"):
                with Vertical():
                    yield Label("preset (start from)", classes="field-label")
                    yield Select([(BLANK, BLANK)], value=BLANK, allow_blank=False, id="preset")
                with Vertical():
                    yield Label("name", classes="field-label")
                    yield Input("tui-experiment", id="name")
                    yield _error_label("name")
            yield Label("models (space ticks; recent models listed)", classes="field-label")
            yield SelectionList[str](id="models")
            yield Input(
                placeholder="add a model: hub id, path, file.gguf, random:llama-tiny (Enter)",
                id="add-model",
            )
            yield _error_label("models")
            with Horizontal(classes="inline-row"):
                with Vertical():
                    yield Label("dtype (every model)", classes="field-label")
                    yield Select(
                        [(d, d) for d in form.DTYPES], value="auto", allow_blank=False, id="dtype"
                    )
                    yield _error_label("dtype")
                with Vertical():
                    yield Label("device (every model)", classes="field-label")
                    yield Select(
                        [(d, d) for d in form.DEVICES],
                        value="auto",
                        allow_blank=False,
                        id="device",
                    )
                    yield _error_label("device")
            yield Label("methods", classes="field-label")
            with Horizontal(id="methods-row"):
                for m in METHODS:
                    yield Checkbox(m, id=f"method-{m}")
            yield _error_label("methods")
            yield Label("sparsities (ratios and N:M, e.g. 0.5, 0.6, 2:4)", classes="field-label")
            yield Input("0.5", id="sparsity")
            yield _error_label("sparsity")
            yield Label("calibration languages", classes="field-label")
            with Grid(id="lang-grid"):
                for code in GRID_LANGUAGES:
                    yield Checkbox(f"{code} {LANGUAGES[code]}", id=f"lang-{code}")
            yield Input(placeholder="more codes or mixes, e.g. en+de fi", id="mixes")
            yield _error_label("languages")
            with Horizontal(classes="inline-row"):
                with Vertical():
                    yield Label("seeds", classes="field-label")
                    yield Input("0", id="seeds")
                    yield _error_label("seeds")
                with Vertical():
                    yield Label("corpus", classes="field-label")
                    yield Select(
                        [(s, s) for s in CORPUS_SOURCES],
                        value=self.default_corpus,
                        allow_blank=False,
                        id="corpus",
                    )
                    yield _error_label("corpus")
            yield Label(
                "corpus options (key=value, e.g. path=/data/corpus heldout_fraction=0.1)",
                classes="field-label",
            )
            yield Input("", placeholder="none", id="corpus_options")
            yield _error_label("corpus_options")
            with Horizontal(classes="inline-row"):
                with Vertical():
                    yield Label("nsamples", classes="field-label")
                    yield Input("128", id="nsamples")
                    yield _error_label("nsamples")
                with Vertical():
                    yield Label("seqlen", classes="field-label")
                    yield Input("2048", id="seqlen")
                    yield _error_label("seqlen")
            yield Label("evaluation languages (codes)", classes="field-label")
            yield Input("", placeholder="e.g. ar de en es ru sw zh", id="eval_languages")
            yield _error_label("eval_languages")
            with Horizontal(classes="inline-row"):
                with Vertical():
                    yield Label("eval max tokens / language", classes="field-label")
                    yield Input("131072", id="max_tokens")
                    yield _error_label("max_tokens")
                with Vertical():
                    yield Label("eval seqlen (blank: calib)", classes="field-label")
                    yield Input("", placeholder="as calibration", id="eval_seqlen")
                    yield _error_label("eval_seqlen")
                with Vertical():
                    yield Label("eval batch size", classes="field-label")
                    yield Input("4", id="batch_size")
                    yield _error_label("batch_size")
            yield Label(
                "task families (only those with the evaluation languages)", classes="field-label"
            )
            yield SelectionList[str](id="tasks")
            yield _error_label("tasks")
            with Horizontal(classes="inline-row"):
                with Vertical():
                    yield Label("executor", classes="field-label")
                    yield Select(
                        [("local", "local"), ("slurm", "slurm")],
                        value="local",
                        allow_blank=False,
                        id="executor",
                    )
                    yield _error_label("executor")
                with Vertical():
                    yield Label("GPUs (all, or ids: 0,1)", classes="field-label")
                    yield Input("all", id="gpus")
                    yield _error_label("gpus")
        with Vertical(id="compose-preview"):
            yield Static("checking…", id="preview")
            yield Static("", id="problems")
            with Horizontal(id="preview-buttons"):
                yield Button("Save preset ^s", id="save", variant="primary")
                yield Button("Launch ^l", id="launch", variant="success")
        yield Footer()

    def on_mount(self) -> None:
        self.call_after_refresh(self.load_choices)  # after the first frame
        self.query_one("#name", Input).focus()
        self.schedule_check()

    # ---- reading the form ----
    def values(self) -> form.FormValues:
        def text(wid: str) -> str:
            return self.query_one(f"#{wid}", Input).value

        return form.FormValues(
            name=text("name"),
            description=str(self.base.get("description", "")),
            models=list(self.query_one("#models", SelectionList).selected),
            dtype=str(self.query_one("#dtype", Select).value),
            device=str(self.query_one("#device", Select).value),
            methods=[m for m in METHODS if self.query_one(f"#method-{m}", Checkbox).value],
            sparsity=text("sparsity"),
            languages=[c for c in GRID_LANGUAGES if self.query_one(f"#lang-{c}", Checkbox).value],
            mixes=text("mixes"),
            seeds=text("seeds"),
            corpus=str(self.query_one("#corpus", Select).value),
            corpus_options=text("corpus_options"),
            nsamples=text("nsamples"),
            seqlen=text("seqlen"),
            eval_languages=text("eval_languages"),
            max_tokens=text("max_tokens"),
            eval_seqlen=text("eval_seqlen"),
            batch_size=text("batch_size"),
            tasks=list(self.query_one("#tasks", SelectionList).selected),
            executor=str(self.query_one("#executor", Select).value),
            gpus=text("gpus"),
            base=self.base,
        )

    def fill(self, v: form.FormValues) -> None:
        """Put a preset's values into the widgets (change events then re-validate)."""
        self.base = v.base
        for wid in (
            "name",
            "sparsity",
            "mixes",
            "seeds",
            "nsamples",
            "seqlen",
            "corpus_options",
            "eval_languages",
            "max_tokens",
            "eval_seqlen",
            "batch_size",
            "gpus",
        ):
            self.query_one(f"#{wid}", Input).value = getattr(v, wid)
        models = self.query_one("#models", SelectionList)
        known = {models.get_option_at_index(i).value for i in range(models.option_count)}
        for m in v.models:
            if m not in known:
                models.add_option((m, m))
        models.deselect_all()
        for m in v.models:
            models.select(m)
        for m in METHODS:
            self.query_one(f"#method-{m}", Checkbox).value = m in v.methods
        extra = [lang for lang in v.languages if lang not in GRID_LANGUAGES]
        for c in GRID_LANGUAGES:
            self.query_one(f"#lang-{c}", Checkbox).value = c in v.languages
        if extra:
            self.query_one("#mixes", Input).value = " ".join([*extra, v.mixes]).strip()
        if v.corpus in CORPUS_SOURCES:
            self.query_one("#corpus", Select).value = v.corpus
        for wid, value, allowed in (
            ("dtype", v.dtype, form.DTYPES),
            ("device", v.device, form.DEVICES),
        ):
            select = self.query_one(f"#{wid}", Select)
            options = [*allowed, *([form.PER_MODEL] if value == form.PER_MODEL else [])]
            select.set_options([(o, o) for o in options])
            select.value = value if value in options else "auto"
        self.query_one("#executor", Select).value = (
            v.executor if v.executor in ("local", "slurm") else "local"
        )
        self._update_tasks(v.eval_languages, select=v.tasks)

    def _update_tasks(self, eval_text: str, select: list[str] | None = None) -> None:
        """Offer only task families that exist for the evaluation languages."""
        tasks = self.query_one("#tasks", SelectionList)
        keep = set(select if select is not None else tasks.selected)
        langs = form.split_list(eval_text)
        offered = form.families_for(langs)
        current = [tasks.get_option_at_index(i).value for i in range(tasks.option_count)]
        if list(offered) == current and select is None:
            return
        tasks.clear_options()
        tasks.add_options(
            [(f"{fam} ({' '.join(cov)})", fam, fam in keep) for fam, cov in offered.items()]
        )
        unknown = sorted(keep - set(offered))
        if unknown:  # a preset's family for other languages: keep it visible and selected
            tasks.add_options([(f"{fam} (none of these languages)", fam, True) for fam in unknown])

    # ---- change tracking ----
    @on(Input.Changed)
    @on(Checkbox.Changed)
    @on(Select.Changed)
    @on(SelectionList.SelectedChanged)
    def _changed(self, event: Any) -> None:
        control = getattr(event, "control", None)
        cid = getattr(control, "id", None)
        if cid == "preset":
            self._preset_chosen(str(event.value))
            return
        if cid == "add-model":
            return
        if cid == "eval_languages":
            self._update_tasks(event.value)
        self.schedule_check()

    def schedule_check(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(DEBOUNCE_S, self._check_now)

    def _check_now(self) -> None:
        self.generation += 1
        self.check(self.generation, self.values())

    @work(thread=True, exclusive=True, group="compose-check", name="validate")
    def check(self, generation: int, values: form.FormValues) -> None:
        from langprune.tui.preview import preview

        exp, problems = form.validate(form.to_dict(values))
        pv = preview(exp, self.app.runs_root) if exp else None
        self.post_message(PreviewReady(generation, problems, pv, exp))

    def on_preview_ready(self, message: PreviewReady) -> None:
        if message.generation != self.generation:
            return  # an older check finished after a newer one started
        by_field = form.problems_by_field(message.problems)
        for key in form.FIELD_PATHS:
            label = self.query_one(f"#err-{key}", Static)
            lines = form.plain_problems(by_field.get(key, []))
            label.update(Text("\n".join(f"✗ {p}" for p in lines)))
            label.set_class(bool(lines), "-shown")
        self._show_other(form.plain_problems(by_field.get(None, [])))
        pv = message.preview
        if message.problems:
            n = len(form.plain_problems(message.problems))
            self.valid = None
            self.query_one("#preview", Static).update(
                f"[b red]{n} problem{'s' * (n > 1)}[/] (shown next to the fields) · fix to save or launch"
            )
        elif pv is not None:
            self.valid = message.experiment
            todo = pv.runs - pv.done
            if pv.estimate_s is None:
                est = "device time: no past runs of this model to estimate from"
            else:
                est = (
                    f"≈ {format_duration(pv.estimate_s)} device time (from {pv.history} past runs)"
                )
            active = f" · {pv.queued_or_running} queued/running" if pv.queued_or_running else ""
            line = Text.from_markup("[b green]✓ valid[/] · ")
            line.append(pv.sentence or str(pv.runs), style="bold")
            line.append(f" runs · {pv.done} already done{active} · {todo} to run · {est}")
            self.query_one("#preview", Static).update(line)

    def _show_other(self, lines: list[str]) -> None:
        """Problems of no form field, and a TOML edit that did not read back."""
        if self.toml_error:
            lines = [self.toml_error, *lines]
        box = self.query_one("#problems", Static)
        box.update(Text("\n".join(f"✗ {p}" for p in lines)))
        box.display = bool(lines)

    # ---- presets and recent models ----
    @work(thread=True, exclusive=True, group="compose-load", name="load presets")
    def load_choices(self) -> None:
        from langprune.engine.spec import presets
        from langprune.store.fs import read_json
        from langprune.store.rundir import iter_run_dirs

        found = {name: str(p) for name, p in presets.available(self.app.workspace).items()}
        seen: dict[str, float] = {}
        for rd in iter_run_dirs(self.app.runs_root):
            spec = rd.read_spec() or {}
            mid = (spec.get("model") or {}).get("id")
            if mid:
                when = float((read_json(rd.status_file) or {}).get("updated_at") or 0)
                seen[mid] = max(seen.get(mid, 0.0), when)
        recent = sorted(seen, key=lambda m: -seen[m])[:12]
        self.post_message(FormLoaded(found, recent))

    def on_form_loaded(self, message: FormLoaded) -> None:
        select = self.query_one("#preset", Select)
        select.set_options([(BLANK, BLANK), *[(Text(n), n) for n in message.presets]])
        models = self.query_one("#models", SelectionList)
        known = {models.get_option_at_index(i).value for i in range(models.option_count)}
        models.add_options([(Text(m), m) for m in message.recent_models if m not in known])

    def _preset_chosen(self, name: str) -> None:
        if name == BLANK:
            self.base = {}
            return
        self.load_preset(name)

    @work(thread=True, exclusive=True, group="compose-preset", name="load preset")
    def load_preset(self, name: str) -> None:
        from langprune.engine.spec import presets
        from langprune.engine.spec.errors import SpecError

        try:
            path = presets.resolve(name, self.app.workspace)
            data = presets.parse_toml(path.read_text(encoding="utf-8"), str(path))
            ev = data.get("evaluation")
            if isinstance(ev, dict) and isinstance(ev.get("task_paths"), list):
                # keep the preset's own folders reachable from wherever it is saved next
                ev["task_paths"] = [
                    str((path.parent / p).resolve()) if not Path(p).is_absolute() else p
                    for p in ev["task_paths"]
                ]
            self.post_message(PresetData(name, data, []))
        except (SpecError, OSError) as exc:
            problems = exc.problems if isinstance(exc, SpecError) else [str(exc)]
            self.post_message(PresetData(name, None, problems))

    def on_preset_data(self, message: PresetData) -> None:
        if message.data is None:
            self.notify("\n".join(message.problems), severity="error", markup=False)
            return
        self.fill(form.from_experiment(message.data))
        self.schedule_check()

    @on(Input.Submitted, "#add-model")
    def _add_model(self, event: Input.Submitted) -> None:
        mid = event.value.strip()
        if not mid:
            return
        models = self.query_one("#models", SelectionList)
        known = {models.get_option_at_index(i).value for i in range(models.option_count)}
        if mid not in known:
            models.add_option((mid, mid))
        models.select(mid)
        event.input.value = ""

    # ---- save and launch ----
    @on(Button.Pressed, "#save")
    def _save_pressed(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#launch")
    def _launch_pressed(self) -> None:
        self.action_launch()

    def _ready(self, what: str) -> bool:
        if self.valid is None:
            self.notify(
                f"cannot {what}: the form has problems (see the red lines)", severity="error"
            )
            return False
        return True

    def action_save(self) -> None:
        if not self._ready("save"):
            return
        data = form.to_dict(self.values())
        from langprune.engine.spec import presets

        name = preset_file_name(str(data.get("name", "")))
        path = self.app.workspace / "presets" / f"{name}.toml"
        shipped = presets.builtin_dir() / f"{name}.toml"
        if path.is_file():
            question = f"A preset named {name} exists ({path}). Replace it?"
        elif shipped.is_file():
            question = (
                f"{name} is a shipped preset. Saving makes your copy ({path}) hide it "
                f"wherever the name {name} is used. Save anyway?"
            )
        else:
            self.save(data)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.save(data)
            else:
                self.notify("not saved: give the experiment another name to keep both")

        self.app.push_screen(ConfirmScreen(question, "Save (y)", "Keep it (n)"), answered)

    @work(thread=True, group="compose-save", name="save preset")
    def save(self, data: dict[str, Any]) -> None:
        from langprune.tui import tomlwrite

        exp, problems = form.validate(data)
        if exp is None:
            self.post_message(ActionDone("cannot save: " + "; ".join(problems), "error"))
            return
        name = preset_file_name(exp.name)
        path = self.app.workspace / "presets" / f"{name}.toml"
        text = tomlwrite.dumps(
            data, header=f"{exp.name}: saved from the langprune TUI ({len(exp.runs())} runs)"
        )
        write_text_atomic(path, text)
        self.post_message(ActionDone(f"saved preset {name} → {path}"))

    def action_launch(self) -> None:
        if self._ready("launch"):
            self.launch(self.valid)

    @work(thread=True, exclusive=True, group="compose-launch", name="launch")
    def launch(self, exp: Any) -> None:
        try:
            from langprune.engine.run import launcher
        except ImportError:
            self.post_message(ActionDone("launch: the runner is not installed yet", "error"))
            return
        from langprune.engine.spec import preflight

        preflight.check(exp)  # a SpecError reaches the app's one error boundary (a notice)
        result = launcher.launch(exp, self.app.workspace)
        self.post_message(
            Launched(list(getattr(result, "queued", [])), list(getattr(result, "skipped", [])))
        )

    def on_launched(self, message: Launched) -> None:
        self.notify(f"launched: {len(message.queued)} queued, {len(message.skipped)} already done")
        self.app.switch_mode("runs")

    def action_leave_field(self) -> None:
        self.set_focus(None)  # so that 1-4 and ? reach the app again

    # ---- edit as TOML ----
    def action_edit_toml(self) -> None:
        """The whole form as preset TOML in $VISUAL/$EDITOR; on return, validated into the form."""
        from langprune.tui import tomlwrite

        text = self.toml_draft
        if text is None:
            text = tomlwrite.dumps(
                form.to_dict(self.values()),
                header="the compose form as a preset: edit, save and quit; ctrl+t reopens it",
            )
        with tempfile.TemporaryDirectory(prefix="langprune-compose-") as tmp:
            path = Path(tmp) / "experiment.toml"
            path.write_text(text, encoding="utf-8")
            command = [*editor_command(), str(path)]
            try:
                with self.app.suspend():
                    done = subprocess.run(command, check=False)
            except SuspendNotSupported:  # no terminal to hand over (headless): run it as it is
                done = subprocess.run(command, check=False, capture_output=True)
            except OSError as exc:
                self.notify(
                    f"cannot start the editor {command[0]!r}: {exc}", severity="error", markup=False
                )
                return
            edited = path.read_text(encoding="utf-8")
        self.refresh(layout=True)
        if done.returncode != 0:
            self.notify(f"the editor exited with {done.returncode}; the form is unchanged")
            return
        self.take_toml(edited)

    def take_toml(self, text: str) -> None:
        """Put edited preset TOML into the form, or keep it as a draft and say what is wrong."""
        from langprune.engine.spec import presets
        from langprune.engine.spec.errors import SpecError

        try:
            data = presets.parse_toml(text, "the edited TOML")
        except SpecError as exc:
            self.toml_draft = text
            self.toml_error = "edited TOML not used: " + "; ".join(exc.problems)
            self.toml_error += " (ctrl+t reopens your text)"
            self._show_other([])
            return
        # problems of no form field (an unknown key, say) would be lost in the form: keep the text
        unplaced = form.problems_by_field(form.validate(data)[1]).get(None, [])
        if unplaced:
            self.toml_draft = text
            self.toml_error = "edited TOML not used: " + "; ".join(form.plain_problems(unplaced))
            self.toml_error += " (ctrl+t reopens your text)"
            self._show_other([])
            return
        self.toml_draft = None
        self.toml_error = ""
        self.fill(form.from_experiment(data))
        self.schedule_check()


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question naming what will happen: y/Enter does it, n/Esc does not."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y,enter", "yes", "Yes"),
        Binding("n,escape", "no", "No"),
    ]

    def __init__(self, question: str, yes: str = "Yes (y)", no: str = "No (n)") -> None:
        super().__init__()
        self.question = question
        self.labels = (yes, no)

    def compose(self) -> ComposeResult:
        with Vertical(id="export-box"):
            yield Label(Text(self.question), id="confirm-question")
            with Horizontal(id="preview-buttons"):
                yield Button(self.labels[0], id="confirm-yes", variant="warning")
                yield Button(self.labels[1], id="confirm-no")

    @on(Button.Pressed, "#confirm-yes")
    def action_yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#confirm-no")
    def action_no(self) -> None:
        self.dismiss(False)
