"""A student's Keras model crossing from the sandboxed child to the grader, as plain bytes.

The child saves the model as a ``.keras`` archive and sends its bytes (:func:`model_bytes`); the
grader loads them itself with Keras's safe mode (:func:`load_model_safely`), so what decides
points is a model the trusted side built from data, never an object from the child. Keras is
imported inside the functions: NumPy-only assignments never import this module's dependencies.
"""

from __future__ import annotations

import io
import os
import tempfile
import zipfile

import numpy as np

from autograder.core import describe_exception

MODEL_FILE_LIMIT = 32 * 1024**2  # bytes, unpacked: a 250,000-parameter model needs about 1 MB
SAVE_RULE = (
    "return a Sequential or functional model of Keras's own layers (no subclass, no Lambda), "
    "so that the grader can load it with Keras's safe mode"
)


def model_bytes(model, function: str) -> dict:
    """The child's side: ``model`` (returned by the student's ``function``) saved as a
    ``.keras`` file in a temporary folder (not the student's folder, nbgrader's cwd), as bytes."""
    import keras

    if not isinstance(model, keras.Model):
        return {"error": f"{function} returned a {type(model).__name__}; return a keras.Model"}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.keras")
            model.save(path)
            with open(path, "rb") as f:
                data = f.read()
    except Exception as exc:  # noqa: BLE001 - student models may not be savable
        return {
            "error": f"{function}'s model could not be saved ({describe_exception(exc)}): {SAVE_RULE}"
        }
    return {"keras_file": np.frombuffer(data, dtype=np.uint8)}


def load_model_safely(observed: dict, function: str):
    """The trusted side: a model from the child's bytes, with Keras's safe mode; or a message.

    Keras refuses to deserialize arbitrary code in safe mode (Lambda layers, custom classes);
    the archive's members are checked for their unpacked size before anything is read."""
    import keras

    if "error" in observed:
        return str(observed["error"])
    data = np.asarray(observed["keras_file"], dtype=np.uint8).tobytes()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if sum(info.file_size for info in archive.infolist()) > MODEL_FILE_LIMIT:
                return f"{function}'s saved model is larger than {MODEL_FILE_LIMIT // 1024**2} MB unpacked"
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.keras")
            with open(path, "wb") as f:
                f.write(data)
            return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # noqa: BLE001 - anything the archive holds
        return f"{function}'s model could not be loaded ({type(exc).__name__}): {SAVE_RULE}"
