"""Images behind URLs, against the real broker and the real Triton: a host that answers after 50 ms, and a tarpit.

The image hosts are loopback servers (``tools.traffic.imagehost``), so the taggers are told to allow
them (``TAGSTREAM_URL_ALLOW_HOSTS``); every other SSRF check still applies.
"""

from __future__ import annotations

import base64
from datetime import datetime

import pytest

from contracts import CatalogEvent, DeadLetter, ErrorCode
from tests.services.tagger.streams import OutputReader
from tools.bench.pipeline import url_records
from tools.traffic.imagehost import ImageHost, Mode
from tools.traffic.produce import produce
from tools.traffic.synthetic import GeneratedRecord, generate

pytestmark = [pytest.mark.integration, pytest.mark.spread]  # every test starts its own stack

EVENTS = 1000
DELAY_S = 0.05
#: The tarpit test's deadline: short enough that its images are dead-lettered soon, long enough that the good host's
#: images, which wait their turn for a slot within it, arrive on two busy cores (2 s lost 51 of 900 on such a runner).
FETCH_TIMEOUT_S = 6.0
#: The slow-host test's deadline: generous, since the image host shares the test's process and two busy cores,
#: and that test is about every image arriving, not about deadlines.
PATIENT_FETCH_TIMEOUT_S = 20.0
GROUP = {"TAGSTREAM_SESSION_TIMEOUT_MS": "6000", "TAGSTREAM_HEARTBEAT_INTERVAL_MS": "1500"}


def _env(*hosts: ImageHost, fetch_timeout_s: float = FETCH_TIMEOUT_S) -> dict[str, str]:
    return {**GROUP, "TAGSTREAM_FETCH_TIMEOUT_S": str(fetch_timeout_s),
            "TAGSTREAM_URL_ALLOW_HOSTS": ",".join(host.address for host in hosts)}


def _event_time(record: GeneratedRecord) -> datetime:
    return CatalogEvent.model_validate_json(record.value).time


def test_every_event_is_tagged_when_every_image_is_behind_a_host_that_answers_after_50_ms(stack_factory):
    with ImageHost(delay_s=DELAY_S) as host:
        stack = stack_factory(tagger_env=_env(host, fetch_timeout_s=PATIENT_FETCH_TIMEOUT_S))
        records = url_records(list(generate(EVENTS, seed=71)), host)
        produce(stack.kafka_settings(), records, progress=False)
        reader = OutputReader(stack.kafka_settings())
        seen = reader.until(lambda s: s.tagged_ids >= {r.event_id for r in records}, timeout_s=180)
        assert seen.dead == []
        stats = host.stats()
        assert stats.requests >= EVENTS
        assert all(tag.timings.preprocess_ms >= DELAY_S * 1000 for tag in seen.tags)  # the wait was real
        print(f"{EVENTS} URL events tagged over {stats.connections} connections to the image host, at most "
              f"{stats.max_active_requests} requests at once")


def _original_id(letter: DeadLetter) -> str:
    return CatalogEvent.model_validate_json(base64.b64decode(letter.original_value_b64)).id


def test_a_tarpit_serving_a_tenth_of_the_images_costs_only_its_own_events(stack_factory):
    with ImageHost(delay_s=DELAY_S) as host, ImageHost(mode=Mode.HEADERS) as tarpit:  # headers, then no body
        stack = stack_factory(tagger_env=_env(host, tarpit))
        generated = list(generate(EVENTS, seed=72))
        records = [url_records([r], tarpit if i % 10 == 0 else host)[0] for i, r in enumerate(generated)]
        stuck = {r.event_id for r in generated[::10]}
        sent_at = {r.event_id: _event_time(r) for r in records}
        produce(stack.kafka_settings(), records, progress=False)
        reader = OutputReader(stack.kafka_settings())
        others = {r.event_id for r in records} - stuck
        seen = reader.until(lambda s: s.tagged_ids >= others and len(s.dead) >= len(stuck), timeout_s=180)
        assert seen.tagged_ids == others
        assert len(stuck) == EVENTS // 10 and tarpit.stats().requests >= 1
        assert {_original_id(letter) for letter in seen.dead} == stuck
        timed_out = [letter for letter in seen.dead if "timed out" in letter.error.message]
        assert timed_out  # the tarpit's first images waited out their whole deadline
        for letter in seen.dead:
            assert (letter.error.code, letter.error.field) == (ErrorCode.IMAGE_URL_FAILED, "data.image.url")
            if letter in timed_out:
                assert (letter.time - sent_at[_original_id(letter)]).total_seconds() >= FETCH_TIMEOUT_S
            else:  # a fetcher with a circuit breaker per host fails the rest fast once the host keeps timing out
                assert "circuit" in letter.error.message
