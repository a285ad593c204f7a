"""Regenerate the shipped base: ``python -m cnn_course.pretrain [--out PATH] [--epochs E] [--n N]``.

Trains ``cnn_course.models.build_base()`` on ``cnn_course.data.load_source_task``
(14 classes: 10 drawn shapes, 4 textures), a fresh sample of ``N`` images for
each epoch (seeds ``TRAIN_SEED + epoch``), with Adam and a cosine learning-rate
decay, then measures the accuracy on a held-out sample (seed ``HELD_OUT_SEED``),
prints it and writes the weights to ``PATH`` (default
``cnn_course/weights/base.weights.h5``) and a record of the run next to it
(``base.json``: accuracy, settings, seconds, versions).

Deterministic: ``keras.utils.set_random_seed`` and
``tf.config.experimental.enable_op_determinism()``, so two runs with the same
arguments on the same machine and versions write identical weights.

Measured with the defaults (8 epochs of 10,000 images, batch 128, Adam with
learning rate 3e-3 decayed to 3e-5): 655 s of wall time on the project's 2-core
CPU machine while other jobs shared it (load average about 9; expect roughly
a third of that on an idle machine), held-out accuracy 0.9655 on 2,000 images
(chance 1/14 = 0.07), 73,886 parameters, a 0.97 MB weights file. Every class is
above 0.9; the textures are near 1.0, circle, square and heart the hardest.
Running ``python -m cnn_course.pretrain`` again (1,086 s on a busier machine)
wrote a byte-identical weights file.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

TRAIN_SEED = 1000
"""Epoch ``e`` trains on ``load_source_task(n, seed=TRAIN_SEED + e)``."""
HELD_OUT_SEED = 1
"""Seed of the held-out sample whose accuracy ``pretrain`` records."""
HELD_OUT_N = 2000
"""Size of the held-out sample (``min(HELD_OUT_N, n)`` for tiny runs)."""
EVAL_SEED = 2
"""Seed reserved for the tests' fresh sample: never used for training or the recorded accuracy."""

EPOCHS = 8
N = 10000
BATCH_SIZE = 128
LR = 3e-3


def pretrain(
    out: str | Path | None = None, epochs: int = EPOCHS, n: int = N, verbose: int = 2
) -> dict:
    """Train the base from scratch, save its weights to ``out`` and return the run's record."""
    import keras
    import numpy as np
    import tensorflow as tf

    from cnn_course.data import SOURCE_CLASSES, load_source_task
    from cnn_course.models import BASE_WEIGHTS, build_base

    out = Path(out) if out is not None else BASE_WEIGHTS
    if TRAIN_SEED <= EVAL_SEED < TRAIN_SEED + epochs or HELD_OUT_SEED == EVAL_SEED:
        raise ValueError("training seeds overlap the evaluation seed")
    keras.utils.set_random_seed(0)
    tf.config.experimental.enable_op_determinism()
    start = time.perf_counter()

    model = build_base(num_classes=len(SOURCE_CLASSES))
    steps = epochs * -(-n // BATCH_SIZE)
    schedule = keras.optimizers.schedules.CosineDecay(LR, decay_steps=steps, alpha=0.01)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=schedule),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    held_out_n = min(HELD_OUT_N, n)  # smaller only for tiny test runs
    x_val, y_val = load_source_task(held_out_n, seed=HELD_OUT_SEED)
    for epoch in range(epochs):
        x_train, y_train = load_source_task(n, seed=TRAIN_SEED + epoch)  # a fresh sample
        if verbose:
            print(f"epoch {epoch + 1}/{epochs}", flush=True)
        model.fit(x_train, y_train, batch_size=BATCH_SIZE, epochs=1, verbose=verbose)

    probs = model.predict(x_val, batch_size=256, verbose=0)
    accuracy = float(np.mean(np.argmax(probs, axis=1) == y_val))
    seconds = time.perf_counter() - start
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save_weights(out)
    record = {
        "held_out_accuracy": round(accuracy, 4),
        "held_out_seed": HELD_OUT_SEED,
        "held_out_n": held_out_n,
        "train_seeds": [TRAIN_SEED, TRAIN_SEED + epochs - 1],
        "epochs": epochs,
        "n_per_epoch": n,
        "batch_size": BATCH_SIZE,
        "lr": LR,
        "classes": list(SOURCE_CLASSES),
        "params": model.count_params(),
        "seconds": round(seconds, 1),
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
    }
    out.with_name(out.name.removesuffix(".weights.h5") + ".json").write_text(
        json.dumps(record, indent=1) + "\n"
    )
    print(f"held-out accuracy {accuracy:.4f} on {held_out_n} images; {seconds:.0f} s; wrote {out}")
    return record


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="weights file (must end in .weights.h5)")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--n", type=int, default=N, help="training images per epoch")
    args = parser.parse_args(argv)
    if args.out is not None and not args.out.endswith(".weights.h5"):
        parser.error("--out must end in .weights.h5")
    pretrain(args.out, epochs=args.epochs, n=args.n)


if __name__ == "__main__":
    main()
