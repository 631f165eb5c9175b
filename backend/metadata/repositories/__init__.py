"""One repository per aggregate, each over the session of a :class:`~backend.metadata.unit_of_work.UnitOfWork`."""
