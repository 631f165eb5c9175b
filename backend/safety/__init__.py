"""The safety stage: the safety case as data (``gsn``: the model; ``case``: its YAML, read and
validated), its safety performance indicators judged on the release gate's evidence (``spi``),
immutable snapshots of each release's case and their diff (``snapshot``), the SOTIF view
(``sotif``), the release report (``report``), the service over the metadata database
(``service``) and ``longtail safety`` (``cli``)."""
