"""The model's interface, shared bit for bit by training (``model``) and serving (``services``).

- ``taxonomy``: the 13 attributes and their classes, in the model's output order;
- ``tensors``: the served model's name, tensor names and shapes;
- ``preprocess``: decode, shrink and batch an image file into the model's input;
- ``features``: per-image measures of a batch: the drift summary every tag carries, and quality measures;
- ``quality``: which images are too poor to tag (blank, blurred, tiny).

It imports nothing from the project but ``contracts``; training and serving import it, never each other.
"""
