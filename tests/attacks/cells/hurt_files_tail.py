# ruff: noqa: F821
"""The functions graded last pull the trigger while the grader observes them."""


def gaussian_kernel_1d(sigma, radius):
    trigger()
    raise NotImplementedError()


def separable_blur(image, sigma, radius):
    trigger()
    raise NotImplementedError()


def build_cnn(input_shape=(32, 32, 3), num_classes=10):
    trigger()
    raise NotImplementedError()
