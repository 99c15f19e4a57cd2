"""The image maths, numpy and Pillow only: what every task does to a file before a model sees it.

- `decode`: opening and decoding one image safely (regular files only, bomb guards, huge images reduced in
  strips, any mode to grayscale); `png`: the libspng fast path for small plain PNGs.
- `levels`: background, noise and polarity -> ink high in [0, 1]; uneven light flattened.
- `clutter`: ruled and squared lines (level or turned), frame edges, specks and far marks out.
- `morphology`: min/max filters, connected components, stroke width, what is not a digit.
- `normal`: MNIST's normal form (crop, fit 20x20, pen width, centre of mass), `PreprocessConfig`,
  `to_mnist`, `load_image`.
- `segment`: a number cut into candidate digits, and the reading the model reads best.
- `line`: the sequence reader's input (`find_line`, `to_input`) and CTC decoding (`ctc_greedy`, `ctc_probability`).

Nothing is imported here: a module loads only what it uses (decoding processes load no segmentation).
"""
