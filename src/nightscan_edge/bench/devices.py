"""Device classes for latency *estimates* on hardware we do not have: one registry, each entry cited.

Each class has an effective sustained FP32 throughput (GFLOPS) derived from a published, measured
latency of a well-known mobile network in an optimised CPU runtime (XNNPACK / TFLite), or from a
published HPL run: ``GFLOPS = 2 x multiply-adds / latency``. Such figures already include what real
runtimes lose to memory traffic and depthwise convolutions, so ``model FLOPs / effective GFLOPS`` is a
fair first-order estimate -- but it is an **estimate**, never a measurement, and every report labels it
so and keeps it apart from measured figures.

Multiply-add counts come from the papers: MobileNet v1 1.0-224 569 M (Howard et al. 2017,
arXiv:1704.04861), MobileNet v2 1.0-224 300 M (Sandler et al. 2018, arXiv:1801.04381),
EfficientNet-Lite0 407 M (tensorflow/tpu README below).
"""

from __future__ import annotations

from dataclasses import dataclass

from nightscan_edge.registry import Registry

MOBILENET_V1_MACS = 569e6
MOBILENET_V2_MACS = 300e6
EFFICIENTNET_LITE0_MACS = 407e6

XNNPACK_README = "https://github.com/google/XNNPACK/blob/master/README.md (Performance section, 2020 tables)"


@dataclass(frozen=True)
class DeviceClass:
    """A class of phone/board and how fast it sustains FP32 inference (from the cited measurement)."""

    name: str
    title: str
    threads: int  # CPU threads behind the published figure
    sustained_gflops: float
    basis: str  # what was measured, so a reader can redo the arithmetic
    source: str

    def estimate_ms(self, flops: float) -> float:
        """Estimated latency of one inference of ``flops`` floating-point operations (2 per MAC)."""
        return flops / (self.sustained_gflops * 1e9) * 1e3


def _from_latency(macs: float, latency_ms: float) -> float:
    return round(2 * macs / (latency_ms / 1e3) / 1e9, 1)


DEVICE_CLASSES: Registry[DeviceClass] = Registry("device class")

for _device in (
    DeviceClass(
        name="android_recent",
        title="Android phone, flagship 2019+ (Pixel 4, Snapdragon 855), 4 threads",
        threads=4,
        sustained_gflops=_from_latency(EFFICIENTNET_LITE0_MACS, 12.0),
        basis="EfficientNet-Lite0 FP32 (407 M MAdds), TFLite CPU, 4 threads, batch 1: 12 ms on Pixel 4",
        source="https://github.com/tensorflow/tpu/blob/master/models/official/efficientnet/lite/README.md",
    ),
    DeviceClass(
        name="android_old",
        title="Android phone, old/budget (Pixel 2, Snapdragon 835, 2017), 1 thread",
        threads=1,
        sustained_gflops=_from_latency(MOBILENET_V2_MACS, 53.0),
        basis="MobileNet v2 1.0X FP32 (300 M MAdds), XNNPACK single-threaded: 53 ms on Pixel 2",
        source=XNNPACK_README,
    ),
    DeviceClass(
        name="iphone",
        title="iPhone (iPhone 11 Pro, A13), CPU 2 threads",
        threads=2,
        sustained_gflops=_from_latency(MOBILENET_V1_MACS, 18.21),
        basis="MobileNet V1 1.0 224 FP32 (569 M MAdds), TFLite CPU, 2 threads: 18.21 ms on iPhone 11 Pro",
        source="https://github.com/freedomtan/glDelegateBenchmark/blob/master/README.md",
    ),
    DeviceClass(
        name="raspberry_pi_4",
        title="Raspberry Pi 4 (BCM2711, 4x Cortex-A72), 4 threads",
        threads=4,
        sustained_gflops=_from_latency(MOBILENET_V2_MACS, 44.0),
        basis="MobileNet v2 1.0X FP32 (300 M MAdds), XNNPACK multi-threaded: 44 ms on RPi 4",
        source=XNNPACK_README,
    ),
    DeviceClass(
        name="raspberry_pi_5",
        title="Raspberry Pi 5 (BCM2712, 4x Cortex-A76 @ 2.4 GHz), 4 threads",
        threads=4,
        sustained_gflops=30.2,
        basis="HPL Linpack (FP64, 4 cores): 30.249 GFLOPS; conservative for FP32 inference "
        "(the same source gives the Pi 4 11.9 GFLOPS vs 13.6 derived from XNNPACK above)",
        source="https://github.com/geerlingguy/top500-benchmark/blob/master/README.md (Results table)",
    ),
):
    DEVICE_CLASSES.add(_device.name, _device)


def list_device_classes() -> list[DeviceClass]:
    return [DEVICE_CLASSES.get(name) for name in DEVICE_CLASSES.names()]
