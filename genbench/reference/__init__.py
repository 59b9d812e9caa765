"""The Reference: what generated samples are compared against, in one feature space.

``Reference.load(spec, extractor=None, **options)`` (and ``gb.load_reference(spec, ...)``) takes a
spec of any registered kind (``genbench.reference.builtin_kinds`` lists the built-in ones):

- ``shapes32`` / ``shapes32:train`` / ``shapes32:test``: the bundled statistics of that split when
  genbench ships them for the extractor (``reference_stats/``), else computed from the images;
- a genbench reference file (``genbench stats SOURCE -o FILE``: ``mu``, ``sigma``, ``n``,
  ``features``, ``provenance``), or the pair ``X.npz`` + ``X-sample.npz`` that ``genbench stats
  --out`` writes (either file names the pair): its recorded feature space must be the
  extractor's;
- foreign statistics: a pytorch-fid / clean-fid ``.npz`` (``mu``, ``sigma``; FID only), with
  clean-fid's ``<stem>_kid.npz`` (``feats``) beside it giving feature rows; an ADM evaluator
  reference batch (``arr_0`` uint8 NHWC images plus ``mu``, ``sigma``): FID from the stored
  moments, the other metrics from features of ``arr_0``. Foreign files carry no provenance, so
  they need an explicitly named extractor and are recorded as "declared by the user";
- ``cleanfid:DATASET/MODE/SPLIT/RES`` (e.g. ``cleanfid:cifar10/clean/train/32``): clean-fid's published
  statistics, fetched on first use from clean-fid's stats URL (``CLEANFID_STATS_URL``, read here at
  each fetch) into ``$GENBENCH_HOME/cleanfid/`` (or read from clean-fid's own download folder) and
  read as foreign statistics in the feature space of the mode: ``inception-v3-fid`` with resize
  ``clean`` / ``tf`` (``legacy_tensorflow``) / ``bilinear`` (``legacy_pytorch``), chosen
  automatically (:func:`implied_extractor_options`);
- images: a folder (flat or class subfolders), a ``.zip`` archive of images, an ``.npz`` of uint8
  samples, a torchvision dataset root. Their features are computed once and cached in
  ``$GENBENCH_HOME/references/`` under a key made of the content (file names, sizes and mtimes)
  and the extractor's provenance, so a second use reads the cache (``genbench.reference.cache``);
- pickles (``.pkl``, ``.pt``, ``.pth``, ``.ckpt``) are refused: unpickling runs arbitrary code.

A Reference provides some of ``reference.moments`` (FID), ``reference.features`` (KID,
precision/recall, density/coverage: up to ``sample_n`` float16 rows) and ``reference.cells``
(the shapes32 predicted-cell histogram); metrics needing what it lacks are skipped, with the reason.
Moments are float64, covariance ÷ (n − 1), as pytorch-fid. Every loaded reference's provenance
records its ``source``, ``kind``, how its feature space is known (``provenance``), the ``spec``
that loads it again and its content ``fingerprint``.

Modules: ``base`` (Reference, fingerprint), ``registry`` (the kinds' registry and what a kind
declares), ``builtin_kinds`` (the built-in kinds), ``loading`` (loading any spec, choosing the extractor),
``formats`` (genbench files read and written, foreign statistics read), ``cache`` (the
image-feature cache), ``compute`` (images → features → Reference), ``cleanfid`` (clean-fid's
published statistics by name). Adding a kind: one ``ReferenceKind`` subclass, registered with
``register_kind`` (``genbench.reference.registry``).
"""

from genbench.reference.base import Reference, install_loader, reference_fingerprint
from genbench.reference.formats import (DECLARED, PICKLE_SUFFIXES, read_foreign, read_genbench, reference_paths,
                                        refuse_pickle, save_reference, save_reference_file)
# a mirror (or a test server) sets genbench.reference.cleanfid.CLEANFID_STATS_URL
from genbench.reference.cleanfid import (CLEANFID_PREFIX, CLEANFID_RESIZE, CLEANFID_STATS_URL, CleanFIDStats,
                                         cleanfid_cache_dir, cleanfid_stats_file)
from genbench.reference.compute import compute_reference
from genbench.reference.registry import (ReadingOptions, ReferenceKind, Spec, kind_of, kinds, register_kind,
                                         unregister_kind)
from genbench.reference.cache import CACHE_FORMAT, images_reference, references_cache_dir
from genbench.reference.builtin_kinds import SHAPES32_SPLITS
from genbench.reference.loading import (holds_images, implied_extractor_options, load_any, load_reference,
                                        load_reference_images, load_reference_spec, resolve_extractor)

install_loader(load_any)  # Reference.load reads any registered kind

__all__ = [
    "CACHE_FORMAT", "CLEANFID_PREFIX", "CLEANFID_RESIZE", "CLEANFID_STATS_URL", "CleanFIDStats", "DECLARED",
    "PICKLE_SUFFIXES", "ReadingOptions", "Reference", "ReferenceKind", "SHAPES32_SPLITS", "Spec", "cleanfid_cache_dir",
    "cleanfid_stats_file", "compute_reference", "holds_images", "images_reference", "implied_extractor_options",
    "kind_of", "kinds", "load_reference", "load_reference_images", "load_reference_spec", "read_foreign",
    "read_genbench", "reference_fingerprint", "reference_paths", "references_cache_dir", "refuse_pickle",
    "register_kind", "resolve_extractor", "save_reference", "save_reference_file", "unregister_kind",
]
