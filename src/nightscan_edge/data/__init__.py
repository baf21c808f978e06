"""Data: listing (folder / manifest CSV), splits, decoding with a cache, augmentation, torch data sets,
model-ready samples for export and benchmarks, the synthetic demo set and ESC-50."""

from nightscan_edge.data.errors import DataError
from nightscan_edge.data.inspect import inspect_dataset
from nightscan_edge.data.prepare import PreparedData, prepare_data, spec_from_config
from nightscan_edge.data.samples import load_folder_samples, load_run_samples
from nightscan_edge.data.sources import list_dataset
from nightscan_edge.data.synth import write_synthetic_dataset

__all__ = [
    "DataError",
    "PreparedData",
    "inspect_dataset",
    "list_dataset",
    "load_folder_samples",
    "load_run_samples",
    "prepare_data",
    "spec_from_config",
    "write_synthetic_dataset",
]
