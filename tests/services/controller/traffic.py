"""Tags as taggers would write them under the rollout state they follow, for the controller's tests.

Until the tagger's router follows the rollout (its own issue), these tests write the tag, shadow and label topics
themselves: each event is routed with ``rollout.routing.route`` under the latest state on ``tagstream.rollout``
(read by the same follower a tagger runs), and tagged by a labelling function per version. The controller under
test is the real process, reading the real broker and driving the real Triton host.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from contracts import FeatureSummary, ReferenceProfile, Topics
from model.export import PROFILE_FILE
from model.tritonconfig import DEFAULT_REPOSITORY
from rollout.routing import route
from rollout.statetopic import RolloutFollower
from runtime import kafka
from runtime.settings import KafkaSettings
from tests.rollout import messages

#: (version, product) -> the tag's labels
Labeller = Callable[[str, str], dict[str, str]]


def honest(version: str, product: str) -> dict[str, str]:
    return {"fabric": "cotton" if int(product.lstrip("p")) % 3 else "silk", "collar": "round"}


def scrambled_from(bad: str) -> Labeller:
    def labels(version: str, product: str) -> dict[str, str]:
        good = honest(version, product)
        return {**good, "fabric": "wool"} if version == bad else good

    return labels


def _reference() -> ReferenceProfile:
    path = DEFAULT_REPOSITORY / "catalog_tagger" / "1" / PROFILE_FILE
    return ReferenceProfile.model_validate_json(path.read_text())


def features_like_reference(reference: ReferenceProfile, rng: random.Random) -> FeatureSummary:
    """An image summary drawn from the reference set's histograms: input that has not drifted."""
    values = {}
    for name, stats in reference.features.items():
        edges, counts = stats.histogram.edges, stats.histogram.counts
        i = rng.choices(range(len(counts)), weights=counts)[0]
        values[name] = min(max((edges[i] + edges[i + 1]) / 2, 0.0), 1.0) if name != "sharpness" else \
            max((edges[i] + edges[i + 1]) / 2, 0.0)
    return FeatureSummary(width=64, height=64, bytes=3000, **values)


class RoutedTags:
    """A thread writing ``rate`` events a second, routed and tagged under the rollout state in force."""

    def __init__(self, settings: KafkaSettings, labeller: Labeller, *, rate: float = 100.0, stable: str = "1") -> None:
        self.labeller = labeller
        self._stable = stable
        self._rate = rate
        self._producer = kafka.producer(settings, client_id="routed-tags")
        self._follower = RolloutFollower(settings, client_id="routed-tags")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.sent = 0
        self.by_arm: dict[str, int] = {}
        self._reference = _reference()
        self._rng = random.Random(7)

    def __enter__(self) -> RoutedTags:
        self._follower.start()
        self._follower.wait_caught_up(30)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self._follower.stop()
        self._producer.close()

    def _run(self) -> None:
        while not self._stop.wait(1.0 / self._rate):
            state = self._follower.latest("catalog_tagger")
            event, product = f"e{self.sent}", f"p{self.sent}"
            r = route(state, product_id=product, stable_version=self._stable)
            now = datetime.now(UTC)
            features = features_like_reference(self._reference, self._rng)
            for target in (r.publish, r.shadow):
                if target is None:
                    continue
                tag = messages.tag(event, target.version, target.arm, now, product=product, revision=r.revision,
                                   labels=self.labeller(target.version, product), features=features)
                topic = Topics.TAGS.name if target.published else Topics.TAGS_SHADOW.name
                self._producer.send(topic, key=tag.key, value=tag.to_bytes())
                self.by_arm[target.arm.value] = self.by_arm.get(target.arm.value, 0) + 1
            self.sent += 1
