"""``tagstream produce`` and ``tagstream tail``: feed the pipeline, and watch any of its topics."""

from __future__ import annotations

import logging
import threading
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from contracts import Topics
from contracts.errors import TagstreamError
from model.drift import Drift, DriftKnobError, parse_drift
from model.synthetic import SyntheticConfig
from runtime.errors import SettingsError
from runtime.settings import KafkaSettings
from tools.traffic.imagehost import ImageHost, Mode, publisher
from tools.traffic.produce import ProduceSummary, produce
from tools.traffic.synthetic import VALID, ImagePublisher, generate, write_truth
from tools.traffic.tail import tail

log = logging.getLogger(__name__)

_err = Console(stderr=True, highlight=False)
_TOPICS = ", ".join(t.name for t in Topics.all())
_KNOBS = ", ".join(Drift.model_fields)


def _settings() -> KafkaSettings:
    try:
        return KafkaSettings()
    except SettingsError as e:
        _fail(str(e))


def _fail(message: str) -> NoReturn:
    """One line on stderr, no traceback, exit status 1."""
    _err.print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)
    raise typer.Exit(1)


def _report(summary: ProduceSummary) -> Table:
    table = Table(title=f"sent to {summary.topic}", title_justify="left")
    table.add_column("kind")
    table.add_column("sent", justify="right")
    table.add_column("expected outcome")
    if summary.valid:
        table.add_row(VALID, str(summary.valid), "tagged: catalog.tags (and catalog.review if doubtful)")
    for kind in sorted(k for k in summary.counts if k != VALID):
        code = summary.expected_errors.get(kind)
        table.add_row(kind, str(summary.counts[kind]), f"dead letter: {code.value if code else '?'}")
    table.add_section()
    table.add_row("total", str(summary.total),
                  f"{summary.malformed} malformed, {summary.elapsed_s:.1f}s, {summary.rate:.1f} records/s")
    return table


def _image_hosts(stack: ExitStack, port: int, delay_ms: float, tarpit_ratio: float,
                 image_format: str) -> tuple[ImagePublisher, ImageHost]:
    """Start the image host (and the tarpit, for a share of the images) and say how taggers may reach them."""
    try:
        host = stack.enter_context(ImageHost(port=port, delay_s=delay_ms / 1000))
        tarpit = stack.enter_context(ImageHost(mode=Mode.SILENT)) if tarpit_ratio > 0 else None
    except TagstreamError as e:
        _fail(str(e))
    allow = ",".join(h.address for h in (host, tarpit) if h is not None)
    _err.print(f"serving images on http://{host.address}/images/ ({delay_ms:g} ms per answer)"
               + (f"; {tarpit_ratio:.0%} of them on a tarpit at {tarpit.address} that never answers"
                  if tarpit is not None else ""))
    _err.print("taggers may fetch them only when started with this setting (tagstream up, tagstream tagger):")
    Console(highlight=False, soft_wrap=True).print(f"TAGSTREAM_URL_ALLOW_HOSTS={allow}")
    return publisher(host, image_format, tarpit=tarpit, tarpit_ratio=tarpit_ratio), host


def _keep_serving(host: ImageHost, linger: float | None) -> None:
    """Serve until ``linger`` seconds pass, or until Ctrl-C."""
    until = f"for {linger:g}s" if linger is not None else "until Ctrl-C"
    _err.print(f"serving {len(host)} images on http://{host.address}/images/ {until}")
    with suppress(KeyboardInterrupt):
        threading.Event().wait(linger)
    stats = host.stats()
    _err.print(f"image host answered {stats.requests} requests on {stats.connections} connections")


def produce_command(
    synthetic: Annotated[int, typer.Option(
        "--synthetic", min=0, metavar="N", help="Send N synthetic catalogue events with rendered images.")],
    rate: Annotated[float | None, typer.Option(
        min=0.001, metavar="R", help="At most R records per second. Default: as fast as possible.")] = None,
    malformed_ratio: Annotated[float, typer.Option(
        min=0.0, max=1.0, metavar="P",
        help="Share of malformed records (exactly round(N * P)), cycling through every kind.")] = 0.0,
    seed: Annotated[int, typer.Option(min=0, metavar="S", help="The same seed sends the same records.")] = 0,
    topic: Annotated[str, typer.Option(help="Topic to send to.")] = Topics.EVENTS.name,
    image_format: Annotated[str, typer.Option(
        help="Pillow format of the images: JPEG, PNG or WEBP.")] = "JPEG",
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
    drift: Annotated[list[str] | None, typer.Option(
        "--drift", metavar="KNOB=VALUE",
        help=f"Drift the synthetic catalogue; repeatable. Knobs: {_KNOBS}. "
             "E.g. --drift brightness=0.6 --drift colour_shift=red:3,blue:0.5 --drift non_garment=0.2")] = None,
    truth_out: Annotated[Path | None, typer.Option(
        "--truth-out", metavar="FILE", dir_okay=False,
        help="Write each valid event's truth (event_id, product_id, merchant_id, labels, novelty, "
             "out_of_distribution) to FILE as JSON lines, for a labeller to publish as LabelFeedback.")] = None,
    image_host: Annotated[bool, typer.Option(
        "--image-host",
        help="Serve the images over HTTP on 127.0.0.1 and send image.url instead of inline bytes, as a CDN "
             "would; keeps serving after sending, until Ctrl-C or --image-linger. Taggers must be started with "
             "TAGSTREAM_URL_ALLOW_HOSTS naming the host: the exact value is printed.")] = False,
    image_port: Annotated[int | None, typer.Option(
        min=0, max=65535, metavar="P",
        help="Port of the image host (with --image-host). Default: a free one; fix it to keep the "
             "taggers' TAGSTREAM_URL_ALLOW_HOSTS the same between runs.")] = None,
    image_delay_ms: Annotated[float | None, typer.Option(
        min=0.0, metavar="MS", help="Delay of each image answer (with --image-host). Default: 50.")] = None,
    image_tarpit_ratio: Annotated[float | None, typer.Option(
        min=0.0, max=1.0, metavar="P",
        help="Share of valid events whose image URL points at a second host that accepts and never answers "
             "(with --image-host): their fetches fail by the deadline and are dead-lettered.")] = None,
    image_linger: Annotated[float | None, typer.Option(
        min=0.0, metavar="S",
        help="After sending, keep serving images S seconds (with --image-host). Default: until Ctrl-C.")] = None,
) -> None:
    """Send catalogue events to Kafka: valid ones, and malformed ones that must be dead-lettered.

    Connects to TAGSTREAM_KAFKA_BOOTSTRAP (default 127.0.0.1:9092). Prints how many records of each
    kind were sent and the dead-letter code the tagger should give each malformed kind.

    Example: tagstream produce --synthetic 1000 --rate 200 --malformed-ratio 0.05 --drift brightness=0.6

    Images behind URLs: tagstream produce --synthetic 2000 --image-host --image-port 8700 --image-delay-ms 50,
    with taggers started as TAGSTREAM_URL_ALLOW_HOSTS=127.0.0.1:8700 tagstream up
    """
    try:
        config = SyntheticConfig(drift=parse_drift(drift or []))
    except DriftKnobError as e:
        raise typer.BadParameter(str(e), param_hint="'--drift'") from e
    image_options = {"--image-port": image_port, "--image-delay-ms": image_delay_ms,
                     "--image-tarpit-ratio": image_tarpit_ratio, "--image-linger": image_linger}
    if not image_host and (given := [name for name, value in image_options.items() if value is not None]):
        raise typer.BadParameter("needs --image-host", param_hint=f"'{given[0]}'")
    settings = _settings()
    with ExitStack() as stack:
        publish, host = None, None
        if image_host:
            publish, host = _image_hosts(stack, image_port or 0, 50.0 if image_delay_ms is None else image_delay_ms,
                                         image_tarpit_ratio or 0.0, image_format)
        records = generate(synthetic, malformed_ratio=malformed_ratio, seed=seed, image_format=image_format,
                           config=config, image_url=publish)
        if truth_out is not None:
            try:
                records = write_truth(records, stack.enter_context(truth_out.open("w", encoding="utf-8")))
            except OSError as e:
                _fail(f"cannot write the truth file {truth_out}: {e.strerror or e}")
        try:
            summary = produce(settings, records, topic=topic, rate=rate, progress=progress, total=synthetic)
        except TagstreamError as e:
            _fail(str(e))
        Console(highlight=False).print(_report(summary))
        if truth_out is not None:
            Console(highlight=False).print(f"truth of {summary.valid} valid events written to {truth_out}")
        if host is not None:
            _keep_serving(host, image_linger)


def tail_command(
    topic: Annotated[str, typer.Argument(help=f"Topic to read, e.g. one of: {_TOPICS}.", show_default=False)],
    from_beginning: Annotated[bool, typer.Option(
        "--from-beginning", help="Start at the oldest record instead of the newest.")] = False,
    max_messages: Annotated[int | None, typer.Option(
        "--max", min=1, metavar="N", help="Stop after N records.")] = None,
    timeout: Annotated[float | None, typer.Option(
        min=0.0, metavar="S", help="Stop once S seconds pass with no new record.")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print one JSON object per line instead of text.")] = False,
) -> None:
    """Print the records of a topic as they arrive.

    Each record is shown as its topic's message: tags show product, model version and every
    attribute's label and confidence; review items the attributes to check; dead letters the code,
    the field and where the event came from; catalogue events id, type, product, merchant and image.
    A null value is shown as a deletion (tombstone); a record that is not its topic's message is one
    line saying what is wrong with it. Joins no consumer group and commits nothing, so it never
    disturbs the tagger. Stops at --max, at --timeout, or on Ctrl-C.
    """
    settings = _settings()
    try:
        shown = tail(settings, topic, from_beginning=from_beginning, max_messages=max_messages,
                     timeout_s=timeout, as_json=as_json)
    except TagstreamError as e:
        _fail(str(e))
    log.debug("tail showed %d records", shown)


def register(app: typer.Typer) -> None:
    """Add ``produce`` and ``tail`` to the ``tagstream`` command."""
    app.command("produce")(produce_command)
    app.command("tail")(tail_command)
