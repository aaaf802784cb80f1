"""A packed dataset: every sample decoded once into ``.npy`` arrays that trials memory-map.

Decoding a 512-px PNG view with its labels costs ~20 ms of CPU; a paper trial reads ~235k
views per epoch, so a GPU would wait on the decoder. ``mtsweep prepare`` decodes each view
once, with the reader a trial would use (same tasks, size and target convention), into
plain NumPy ``.npy`` files, one per array and split::

    PACKED/manifest.json            written last (by rename): the dataset is complete;
                                    it lists every file with its size and SHA-256
    PACKED/progress.json            chunks written so far (a killed prepare resumes here)
    PACKED/<split>/image.npy        uint8 (N, 3, H, W)
    PACKED/<split>/target.<task>.npy  float32/float16, or uint8 class ids
    PACKED/<split>/mask.<task>.npy  bool (N, 1, H, W)
    PACKED/<split>/ids.json         the reader's sample ids, in order (ids/<chunk>.json while packing)

One module per job: :mod:`tasks.packed.manifest` (the format: what the manifest says and
whether it fits a sweep), :mod:`tasks.packed.write` (``pack``), :mod:`tasks.packed.read`
(``PackedSplit``, what trials read) and :mod:`tasks.packed.remote` (a packed dataset
published to object storage, and each node's local copy of it).

Trials open the arrays with ``np.load(mmap_mode='r')``, so every trial on one node shares
one copy in the page cache. Images stay uint8 until they are on the training device
(:meth:`PackedSplit.quantised` and :meth:`PackedSplit.finish`); targets computed from the
image (the autoencoder's) are not stored but computed there too.

Equality with the PNG reader: targets and masks are the reader's exactly (float32 targets;
``float16`` stores them to 2⁻¹¹ relative error), images are the reader's rounded to 8 bits
(|Δ| ≤ 0.5/255). When the files are already at the training size the reader's images are
8-bit values, so the packed samples are bit-identical.
"""
