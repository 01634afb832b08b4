"""``tagstream bench serving``: the served model through Triton against onnxruntime in-process, and the
tagger's preprocessing per core, measured in one run on the same images.

1. preprocess, one thread: base64, Pillow decode, resize, drift summary and quality check, images/s;
2. onnxruntime in this process: the model file the host serves, with the host's intra-op thread count,
   batches of the tagger's batch size called one after another, images/s;
3. Triton: the same file behind the local Triton host (PyTriton, python backend), the same batches over
   gRPC, one after another, images/s;
4. Triton with the tagger's number of requests in flight (``inference_workers``), so that one request's
   transport overlaps another's compute, as in the tagger; the model still has one instance and the
   same intra-op threads as in 2.

``triton_ratio`` = 3's rate / 2's, ``triton_ratio_in_flight`` = 4's / 2's. The difference is what serving
costs: gRPC, the copy into and out of Triton, and the python backend's hop to the process running
onnxruntime.
"""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from contracts import CatalogEvent
from model.export import measure_rate
from modelspec.preprocess import stack
from services.tagger.inference import TritonTagger
from services.tagger.settings import TaggerSettings
from services.tritonhost.runner import OnnxRunner
from services.tritonhost.settings import TritonHostSettings
from tools.bench.pipeline import preprocess_all
from tools.stack import LocalStack
from tools.stack.ports import private_settings
from tools.traffic.synthetic import generate


@dataclass
class ServingFigures:
    images: int
    batch_size: int
    model: str
    preprocess_one_core: float
    onnxruntime_rate: float
    triton_rate: float
    triton_ratio: float
    triton_rate_in_flight: float
    triton_ratio_in_flight: float
    in_flight: int
    intra_op_threads: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def run(images: int = 1024, seed: int = 7, seconds: float = 8.0, batch: int | None = None) -> ServingFigures:
    tagger, host = TaggerSettings(), TritonHostSettings()
    events = [CatalogEvent.model_validate_json(r.value) for r in generate(images, seed=seed)]
    # CPU time of this process with one decode thread: images per core-second
    preprocess_rate, decoded = preprocess_all(events, 1, tagger, clock=time.process_time)
    pixels = stack(decoded)
    batch = batch or tagger.batch_max_size
    runner = OnnxRunner(host.model_path, threads=host.intra_op_threads)
    in_process = measure_rate(runner, pixels, batch_size=batch, seconds=seconds)
    with tempfile.TemporaryDirectory(prefix="tagstream-bench-") as tmp:
        settings = private_settings(Path(tmp), taggers=0)
        with LocalStack(settings) as local:
            local.start(["triton"])
            client = TritonTagger(settings.triton_url, "catalog_tagger")
            served = measure_rate(client.infer, pixels, batch_size=batch, seconds=seconds)
            with ThreadPoolExecutor(tagger.inference_workers) as pool:
                rates = pool.map(lambda _: measure_rate(client.infer, pixels, batch_size=batch, seconds=seconds),
                                 range(tagger.inference_workers))
                in_flight = sum(r.images_per_s for r in rates)
            client.close()
    return ServingFigures(
        images=images, batch_size=batch, model=str(host.model_path.relative_to(host.model_repository)),
        preprocess_one_core=round(preprocess_rate, 1), onnxruntime_rate=round(in_process.images_per_s, 1),
        triton_rate=round(served.images_per_s, 1), triton_ratio=round(served.images_per_s / in_process.images_per_s, 3),
        triton_rate_in_flight=round(in_flight, 1),
        triton_ratio_in_flight=round(in_flight / in_process.images_per_s, 3), in_flight=tagger.inference_workers,
        intra_op_threads=host.intra_op_threads)
