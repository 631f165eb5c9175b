"""Release: the gate a candidate model must pass (``gate``) and the evidence behind each verdict
(``evidence``)."""
