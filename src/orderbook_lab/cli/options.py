"""Every CLI option, defined once and shared by run, compare and replay.

The options that become ``RunConfig`` fields are listed once, in
``RUN_OPTIONS``; ``with_run_options`` gives a command all of them and hands
it their values as one dict, so adding an option to every command that
runs an engine is one line here and one field in ``RunConfig``.
"""

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from ..engines import ENGINES, RunConfig

EngineName = Enum("EngineName", {name.replace("-", "_"): name for name in ENGINES}, type=str)
"""``--engine`` choices, generated from the engine registry."""


class PopularityName(StrEnum):
    uniform = "uniform"
    zipf = "zipf"


class CodecName(StrEnum):
    pickle = "pickle"
    msgspec = "msgspec"


class BackpressureName(StrEnum):
    block = "block"
    drop_newest = "drop-newest"
    drop_oldest = "drop-oldest"


class OffloadName(StrEnum):
    none = "none"
    thread = "thread"


class LoopName(StrEnum):
    uvloop = "uvloop"
    asyncio = "asyncio"


class ParseInName(StrEnum):
    dispatcher = "dispatcher"
    worker = "worker"


class PlacementName(StrEnum):
    market = "market"
    asset = "asset"


class DeliveryName(StrEnum):
    causal = "causal"
    arrival = "arrival"


class FlowName(StrEnum):
    fixed = "fixed"
    adaptive = "adaptive"


class RoutingName(StrEnum):
    directory = "directory"
    hash = "hash"


_STREAM = "Stream"
_WORK = "Work"
_OUTPUT = "Output"
_ASYNC = "Async engine (phase 2)"
_ACTOR = "Actor engine (phase 5)"
_RAY = "Ray engine (--engine ray)"
_FLOW = "Flow control and faults (phase 7)"
_PRODUCTION = "Recovery and shutdown (phase 8)"
_LIVE = "Live feed"
_SERVE = "Service (serve)"


def _pair(option: str) -> Callable[[str | None], tuple[float, float] | None]:
    """A parser for ``A:B`` (two numbers >= 0) that says what is wrong."""

    def parse(value: str | None) -> tuple[float, float] | None:
        if value is None:
            return None
        first, colon, second = value.partition(":")
        try:
            if not colon:
                raise ValueError
            pair = (float(first), float(second))
        except ValueError:
            raise typer.BadParameter(
                f"expected two numbers as A:B, got {value!r}", param_hint=option
            ) from None
        if min(pair) < 0 or any(x != x or x == float("inf") for x in pair):
            raise typer.BadParameter(
                f"both numbers must be finite and >= 0, got {value!r}", param_hint=option
            )
        return pair

    return parse


Phase = Annotated[
    int | None,
    typer.Option("--phase", "-p", min=1, max=8, help="Curriculum phase preset (1-8).", show_default=False),
]
Engine = Annotated[
    EngineName | None,
    typer.Option("--engine", "-e", help="Engine to run, instead of a phase preset.", show_default=False),
]
Messages = Annotated[
    int | None,
    typer.Option(
        "--messages",
        "-n",
        min=1,
        rich_help_panel=_STREAM,
        help="Messages to generate \\[default: 10000, or endless with --duration].",
        show_default=False,
    ),
]
Duration = Annotated[
    float | None,
    typer.Option(
        "--duration",
        min=0.001,
        rich_help_panel=_STREAM,
        help="Stop after this many seconds.",
        show_default=False,
    ),
]
Rate = Annotated[
    float,
    typer.Option(
        "--rate",
        min=0.0,
        rich_help_panel=_STREAM,
        help="Lines per second on a drift-free schedule; 0 = as fast as possible.",
    ),
]
Speed = Annotated[
    float,
    typer.Option(
        "--speed",
        min=0.0,
        rich_help_panel=_STREAM,
        help="Replay at the recorded pace times this (1 = as recorded, 2 = twice as fast), from the "
        "receive times of a recording or else the messages' timestamps; 0 = as fast as possible. "
        "Not with --rate.",
    ),
]
Assets = Annotated[
    int,
    typer.Option(
        "--assets",
        "-a",
        min=1,
        rich_help_panel=_STREAM,
        help="Assets (order books), in YES/NO pairs of a market.",
    ),
]
Seed = Annotated[int, typer.Option("--seed", rich_help_panel=_STREAM, help="Seed of the simulated stream.")]
Popularity = Annotated[
    PopularityName,
    typer.Option(
        "--popularity",
        rich_help_panel=_STREAM,
        help="How updates spread over markets: evenly, or by Zipf's law.",
    ),
]
WorkMs = Annotated[
    float,
    typer.Option(
        "--work-ms", min=0.0, rich_help_panel=_WORK, help="CPU-bound work per message, ms (holds the GIL)."
    ),
]
IoMs = Annotated[
    float,
    typer.Option(
        "--io-ms",
        min=0.0,
        rich_help_panel=_WORK,
        help="Blocking wait per message, ms (sleep; awaited in async engines).",
    ),
]
QueryRate = Annotated[
    float,
    typer.Option(
        "--query-rate",
        min=0.0,
        rich_help_panel=_WORK,
        help="Book queries per second, interleaved with processing.",
    ),
]
Processes = Annotated[
    int | None,
    typer.Option(
        "--processes",
        min=1,
        rich_help_panel=_WORK,
        help="Worker processes (process engines) \\[default: CPU count].",
        show_default=False,
    ),
]
Codec = Annotated[
    CodecName,
    typer.Option(
        "--codec",
        rich_help_panel=_WORK,
        help="msgspec: read each wire line with typed structs (same messages, faster) and, in the process engines, "
        "send typed MessagePack between processes instead of pickle.",
    ),
]
QueueSize = Annotated[
    int,
    typer.Option(
        "--queue-size", min=1, rich_help_panel=_ASYNC, help="Capacity of the ingress queue, messages."
    ),
]
Backpressure = Annotated[
    BackpressureName,
    typer.Option(
        "--backpressure",
        rich_help_panel=_ASYNC,
        help="When the ingress queue is full: make the source wait, or drop the newest or the oldest "
        "message (every drop is counted).",
    ),
]
BatchSize = Annotated[
    int,
    typer.Option(
        "--batch-size",
        min=1,
        rich_help_panel=_ASYNC,
        help="Most messages taken from the ingress queue at once.",
    ),
]
BatchTimeoutMs = Annotated[
    float,
    typer.Option(
        "--batch-timeout-ms",
        min=0.0,
        rich_help_panel=_ASYNC,
        help="Longest wait for a batch to fill after its first message, ms; 0 = take what is "
        "there. Whichever of size and timeout comes first ends a batch.",
    ),
]
Offload = Annotated[
    OffloadName,
    typer.Option(
        "--offload",
        rich_help_panel=_ASYNC,
        help="Where --work-ms runs: on the event loop (none) or in a thread pool (thread).",
    ),
]
Loop = Annotated[
    LoopName | None,
    typer.Option(
        "--loop",
        rich_help_panel=_ASYNC,
        help="Event loop \\[default: uvloop when installed, else asyncio].",
        show_default=False,
    ),
]
JitterMs = Annotated[
    float,
    typer.Option(
        "--jitter-ms",
        min=0.0,
        rich_help_panel=_ASYNC,
        help="Network jitter: each frame arrives up to this much late, in order, ms "
        "(paced streams only: --rate or --speed > 0).",
    ),
]
Burst = Annotated[
    int,
    typer.Option(
        "--burst",
        min=1,
        rich_help_panel=_ASYNC,
        help="The feed sends this many frames at once, then pauses; same mean rate "
        "(paced streams only: --rate or --speed > 0).",
    ),
]
IpcBatch = Annotated[
    int,
    typer.Option(
        "--ipc-batch",
        min=1,
        rich_help_panel=_WORK,
        help="Messages per frame sent to a worker (process and thread engines).",
    ),
]
QueryTimeoutMs = Annotated[
    float,
    typer.Option(
        "--query-timeout-ms",
        min=0.001,
        rich_help_panel=_WORK,
        help="How long a query to a worker may take before it counts as timed out, ms.",
    ),
]
Routing = Annotated[
    RoutingName,
    typer.Option(
        "--routing",
        rich_help_panel=_WORK,
        help="Asset placement on workers: a first-seen table, or a stable hash.",
    ),
]
SyncMs = Annotated[
    float,
    typer.Option(
        "--sync-ms",
        min=0.0,
        rich_help_panel=_WORK,
        help="Shared-memory engine: least time between two publishes of a worker's books, ms; "
        "0 = after every batch it applies.",
    ),
]
ParseIn = Annotated[
    ParseInName,
    typer.Option(
        "--parse-in",
        rich_help_panel=_WORK,
        help="Process engines: where wire lines are parsed. worker: the dispatcher routes each line by a "
        "quick look at its market and the worker that owns the market parses it.",
    ),
]
Placement = Annotated[
    PlacementName,
    typer.Option(
        "--placement",
        rich_help_panel=_ACTOR,
        help="Where actors live: a market's two tokens on one worker (updates stay in the process), "
        "or spread by asset (updates cross processes through the coordinator).",
    ),
]
MaxHops = Annotated[
    int,
    typer.Option(
        "--max-hops",
        min=1,
        rich_help_panel=_ACTOR,
        help="Longest chain of updates (a reaction to a reaction...); longer chains are stopped and counted.",
    ),
]
UpdateQueueSize = Annotated[
    int,
    typer.Option(
        "--update-queue-size",
        min=1,
        rich_help_panel=_ACTOR,
        help="Bound of each actor's update mailbox; updates beyond it are dropped and counted.",
    ),
]
UpdateLoad = Annotated[
    float | None,
    typer.Option(
        "--update-load",
        min=0.0,
        metavar="U",
        rich_help_panel=_ACTOR,
        help="Experiment load: U relay updates per market message instead of the domain's implied quotes "
        r"(0 = no updates, 0.5 = every other message) \[default: implied quotes when a top changes].",
        show_default=False,
    ),
]
UpdateHops = Annotated[
    int,
    typer.Option(
        "--update-hops",
        min=0,
        rich_help_panel=_ACTOR,
        help="Hops of each relay chain of --update-load, token to token; 0 = until --max-hops stops it (a cycle).",
    ),
]
Delivery = Annotated[
    DeliveryName,
    typer.Option(
        "--delivery",
        rich_help_panel=_ACTOR,
        help="causal: hold each update until what happened before it is applied; "
        "arrival: apply as it comes and count the causal violations.",
    ),
]
ReorderUpdates = Annotated[
    bool,
    typer.Option(
        "--reorder-updates",
        rich_help_panel=_ACTOR,
        help="The coordinator shuffles the updates it forwards (seeded): a network that reorders.",
    ),
]
SlowAsset = Annotated[
    str | None,
    typer.Option(
        "--slow-asset",
        metavar="ID",
        rich_help_panel=_ACTOR,
        help="Slow down this asset's actor by --slow-ms of CPU per market message.",
        show_default=False,
    ),
]
SlowMs = Annotated[
    float,
    typer.Option(
        "--slow-ms",
        min=0.0,
        rich_help_panel=_ACTOR,
        help="Extra CPU per message of --slow-asset or --slow-worker, ms.",
    ),
]
Flow = Annotated[
    FlowName,
    typer.Option(
        "--flow",
        rich_help_panel=_FLOW,
        help="Process engines: fixed queues that block when full, or adaptive ones that size themselves "
        "to --target-wait-ms, with a circuit breaker per worker and shedding by priority.",
    ),
]
TargetWaitMs = Annotated[
    float,
    typer.Option(
        "--target-wait-ms",
        min=0.001,
        rich_help_panel=_FLOW,
        help="--flow adaptive: the wait from dispatcher to book that each queue steers toward, ms.",
    ),
]
BreakerLatencyMs = Annotated[
    float,
    typer.Option(
        "--breaker-latency-ms",
        min=0.001,
        rich_help_panel=_FLOW,
        help="--flow adaptive: a message served slower than this counts as a failure for its worker's breaker.",
    ),
]
RateRamp = Annotated[
    str | None,
    typer.Option(
        "--rate-ramp",
        metavar="FROM:TO",
        rich_help_panel=_FLOW,
        callback=_pair("'--rate-ramp'"),
        help="Ramp the pace from FROM x --rate to TO x --rate over the run (e.g. 0.1:1.5).",
        show_default=False,
    ),
]
FaultRate = Annotated[
    float,
    typer.Option(
        "--fault-rate",
        min=0.0,
        max=1.0,
        rich_help_panel=_FLOW,
        help="Share of --fault-worker's messages that fail on purpose (0-1).",
    ),
]
FaultWorker = Annotated[
    int,
    typer.Option(
        "--fault-worker", min=0, metavar="N", rich_help_panel=_FLOW, help="The worker --fault-rate strikes."
    ),
]
FaultWindow = Annotated[
    str | None,
    typer.Option(
        "--fault-window",
        metavar="A:B",
        rich_help_panel=_FLOW,
        callback=_pair("'--fault-window'"),
        help="Faults strike only from A to B seconds into the run \\[default: the whole run].",
        show_default=False,
    ),
]
SlowWorker = Annotated[
    int | None,
    typer.Option(
        "--slow-worker",
        min=0,
        metavar="N",
        rich_help_panel=_FLOW,
        help="Worker N spends --slow-ms more CPU on every message.",
        show_default=False,
    ),
]
Recovery = Annotated[
    bool,
    typer.Option(
        "--recovery/--no-recovery",
        rich_help_panel=_PRODUCTION,
        help="Process engines: restart a worker that dies, from its last checkpoint plus the messages sent "
        "to it since, and go on.",
    ),
]
CheckpointS = Annotated[
    float,
    typer.Option(
        "--checkpoint-s",
        min=0.01,
        rich_help_panel=_PRODUCTION,
        help="With --recovery: seconds between checkpoints.",
    ),
]
KillWorkerAt = Annotated[
    int | None,
    typer.Option(
        "--kill-worker-at",
        min=1,
        metavar="N",
        rich_help_panel=_PRODUCTION,
        help="Fault injection: SIGKILL worker --kill-worker once N messages have been generated.",
        show_default=False,
    ),
]
KillWorker = Annotated[
    int,
    typer.Option(
        "--kill-worker",
        min=0,
        metavar="N",
        rich_help_panel=_PRODUCTION,
        help="The worker --kill-worker-at kills.",
    ),
]
DrainTimeoutS = Annotated[
    float | None,
    typer.Option(
        "--drain-timeout",
        min=0.0,
        metavar="S",
        rich_help_panel=_PRODUCTION,
        help="SIGTERM or Ctrl-C stop intake, drain what was accepted and end the run within S seconds "
        "(printing its table) \\[default: abort at once; phase 8: 10].",
        show_default=False,
    ),
]
EventLog = Annotated[
    str | None,
    typer.Option(
        "--event-log",
        metavar="DIR",
        rich_help_panel=_OUTPUT,
        help="Append every applied message to an event log in DIR (checksummed records in segment "
        "files; appends after the records DIR already holds). Rebuild the books with "
        "`orderbook-lab replay-log DIR`. Phases 1 and 3-8 (not asyncio).",
        show_default=False,
    ),
]
JsonOut = Annotated[
    Path | None,
    typer.Option(
        "--json",
        rich_help_panel=_OUTPUT,
        help="Write the result as JSON here.",
        show_default=False,
        dir_okay=False,
    ),
]
ResultsDir = Annotated[
    Path | None,
    typer.Option(
        "--results-dir",
        rich_help_panel=_OUTPUT,
        help="Folder of saved experiment results, one file per experiment "
        "\\[default: $ORDERBOOK_LAB_RESULTS, else results/ in the user data directory].",
        show_default=False,
        file_okay=False,
    ),
]
BooksOut = Annotated[
    Path | None,
    typer.Option(
        "--books-out",
        rich_help_panel=_OUTPUT,
        help="Write the final books as JSON here.",
        show_default=False,
        dir_okay=False,
    ),
]

# ------------------------------------------------------------ record

RecordAssets = Annotated[
    list[str] | None,
    typer.Option(
        "--asset",
        metavar="ID",
        rich_help_panel=_LIVE,
        help="Asset (token id) to follow on the live channel; repeat for more. Or use --top.",
        show_default=False,
    ),
]
Top = Annotated[
    int | None,
    typer.Option(
        "--top",
        min=1,
        metavar="N",
        rich_help_panel=_LIVE,
        help="Follow the N most active markets by 24 h volume (both tokens of each), from the Gamma API.",
        show_default=False,
    ),
]
RecordOut = Annotated[
    Path,
    typer.Option("--out", "-o", dir_okay=False, rich_help_panel=_OUTPUT, help="Recording (JSONL) to write."),
]
MarketUrl = Annotated[
    str,
    typer.Option("--url", metavar="URL", rich_help_panel=_LIVE, help="Websocket URL of the market channel."),
]
GammaUrl = Annotated[
    str,
    typer.Option("--gamma-url", metavar="URL", rich_help_panel=_LIVE, help="Gamma API base URL, for --top."),
]


# ------------------------------------------------------------ serve


class LogLevelName(StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


ServeMessages = Annotated[
    int | None,
    typer.Option(
        "--messages",
        "-n",
        min=1,
        rich_help_panel=_STREAM,
        help="Messages to generate, then stop \\[default: endless, or until --duration].",
        show_default=False,
    ),
]
Host = Annotated[
    str,
    typer.Option(
        "--host",
        rich_help_panel=_SERVE,
        help="Address to listen on. The default answers this machine only; anything else exposes the "
        "endpoints (books included) to whoever can reach it.",
    ),
]
Port = Annotated[
    int,
    typer.Option(
        "--port", min=0, max=65535, rich_help_panel=_SERVE, help="Port to listen on; 0 = any free one."
    ),
]
ServeReplay = Annotated[
    Path | None,
    typer.Option(
        "--replay",
        metavar="FILE",
        exists=True,
        dir_okay=False,
        readable=True,
        rich_help_panel=_STREAM,
        help="Serve a replay of this JSONL file (paced by --rate or --speed) instead of the simulated stream.",
        show_default=False,
    ),
]
LogFile = Annotated[
    Path | None,
    typer.Option(
        "--log-file",
        dir_okay=False,
        rich_help_panel=_SERVE,
        help="Append the JSON-line log here \\[default: stderr].",
        show_default=False,
    ),
]
LogLevel = Annotated[
    LogLevelName,
    typer.Option("--log-level", rich_help_panel=_SERVE, help="Least severe log events written."),
]
LogSample = Annotated[
    float,
    typer.Option(
        "--log-sample",
        min=0.0,
        max=1.0,
        metavar="F",
        rich_help_panel=_SERVE,
        help="Share of per-request events (book queries) logged, 0-1; other events are always logged.",
    ),
]
RayAddress = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        metavar="HOST:PORT",
        rich_help_panel=_RAY,
        help="Join this Ray cluster (it must have orderbook-lab installed). "
        "Default: start a local one on 127.0.0.1 for the run and shut it down after.",
        show_default=False,
    ),
]
RayInFlight = Annotated[
    int,
    typer.Option(
        "--ray-in-flight",
        min=1,
        rich_help_panel=_RAY,
        help="Most frames (actor calls, of --ipc-batch messages each) in flight to one actor.",
    ),
]

_UNSET = object()


@dataclass(frozen=True)
class RunOption:
    """One option that sets the ``RunConfig`` field of the same name; its
    default is that field's default unless given here."""

    field: str
    annotation: Any
    generated_stream_only: bool = False
    """Meaningless for a replayed file (the file is the stream)."""
    replay_only: bool = False
    """Meaningful only for a replayed file (it paces the file's own times)."""
    override_default: Any = _UNSET

    @property
    def default(self) -> Any:
        if self.override_default is not _UNSET:
            return self.override_default
        value = RunConfig.__dataclass_fields__[self.field].default
        choices = typing.get_args(self.annotation)[0]
        if isinstance(choices, type) and issubclass(choices, Enum) and value is not None:
            return choices(value)
        return value


RUN_OPTIONS: tuple[RunOption, ...] = (
    RunOption("messages", Messages, generated_stream_only=True, override_default=None),
    RunOption("duration_s", Duration, generated_stream_only=True),
    RunOption("rate", Rate),
    RunOption("speed", Speed, replay_only=True),
    RunOption("assets", Assets, generated_stream_only=True),
    RunOption("seed", Seed, generated_stream_only=True),
    RunOption("popularity", Popularity, generated_stream_only=True),
    RunOption("work_ms", WorkMs),
    RunOption("io_ms", IoMs),
    RunOption("query_rate", QueryRate),
    RunOption("processes", Processes),
    RunOption("codec", Codec),
    RunOption("parse_in", ParseIn),
    RunOption("queue_size", QueueSize),
    RunOption("backpressure", Backpressure),
    RunOption("batch_size", BatchSize),
    RunOption("batch_timeout_ms", BatchTimeoutMs),
    RunOption("offload", Offload),
    RunOption("loop", Loop),
    RunOption("jitter_ms", JitterMs),
    RunOption("burst", Burst),
    RunOption("ipc_batch", IpcBatch),
    RunOption("query_timeout_ms", QueryTimeoutMs),
    RunOption("routing", Routing),
    RunOption("sync_ms", SyncMs),
    RunOption("placement", Placement),
    RunOption("max_hops", MaxHops),
    RunOption("update_queue_size", UpdateQueueSize),
    RunOption("update_load", UpdateLoad),
    RunOption("update_hops", UpdateHops),
    RunOption("delivery", Delivery),
    RunOption("reorder_updates", ReorderUpdates),
    RunOption("slow_asset", SlowAsset),
    RunOption("slow_ms", SlowMs),
    RunOption("flow", Flow),
    RunOption("target_wait_ms", TargetWaitMs),
    RunOption("breaker_latency_ms", BreakerLatencyMs),
    RunOption("rate_ramp", RateRamp, generated_stream_only=True),
    RunOption("fault_rate", FaultRate),
    RunOption("fault_worker", FaultWorker),
    RunOption("fault_window", FaultWindow),
    RunOption("slow_worker", SlowWorker),
    RunOption("recovery", Recovery),
    RunOption("checkpoint_s", CheckpointS),
    RunOption("kill_worker_at", KillWorkerAt, generated_stream_only=False),
    RunOption("kill_worker", KillWorker),
    RunOption("drain_timeout_s", DrainTimeoutS),
    RunOption("event_log", EventLog),
    RunOption("ray_address", RayAddress),
    RunOption("ray_in_flight", RayInFlight),
)


def with_run_options(
    *,
    generated_stream: bool | None,
    defaults: dict[str, Any] | None = None,
    annotations: dict[str, Any] | None = None,
) -> Callable[[Callable], Callable]:
    """Add every ``RUN_OPTIONS`` entry to a command's parameters.

    The command declares a ``run_fields: dict`` parameter instead; it
    receives ``{field: value}`` with enums turned into their values, ready
    for ``RunConfig(**run_fields)``. Typer reads the combined signature.
    ``generated_stream``: True for a simulated stream's options, False for
    a replay's, None for both (a command that runs either); ``defaults``
    overrides a field's default for this command alone, ``annotations``
    its option (to say something else in its help).
    """
    if generated_stream is None:
        chosen = list(RUN_OPTIONS)
    elif generated_stream:
        chosen = [o for o in RUN_OPTIONS if not o.replay_only]
    else:
        chosen = [o for o in RUN_OPTIONS if not o.generated_stream_only]
    own_defaults = defaults or {}
    own_annotations = annotations or {}

    def decorate(command: Callable) -> Callable:
        signature = inspect.signature(command)
        own = [p for p in signature.parameters.values() if p.name != "run_fields"]
        added = [
            inspect.Parameter(
                o.field,
                inspect.Parameter.KEYWORD_ONLY,
                default=own_defaults.get(o.field, o.default),
                annotation=own_annotations.get(o.field, o.annotation),
            )
            for o in chosen
        ]

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            run_fields = {}
            for option in chosen:
                value = kwargs.pop(option.field)
                run_fields[option.field] = value.value if isinstance(value, Enum) else value
            return command(run_fields=run_fields, **kwargs)

        wrapper.__signature__ = signature.replace(parameters=[*own, *added])
        wrapper.__annotations__ = {p.name: p.annotation for p in (*own, *added)}
        return wrapper

    return decorate
