"""The vehicle daemon: sources, the pipeline and spool-writer threads, and the composition root.

::

    source ──► pipeline thread: analysis (perception + scoring) → signals → selection → encode
                   │ HandOff (bounded, never blocks, drops lowest priority)
                   ▼
               spool-writer thread ──► Spool (atomic files, checksums, bounded by bytes)
                                            │
               uploader thread ◄────────────┘ ──► gRPC Ingest (resume, backoff, bandwidth cap)

``app.Daemon`` wires everything from an ``AgentConfig`` (the one composition root);
``sources`` replays recorded drives or loads a plug-in source by dotted path; ``analysis`` is
the Protocol the pipeline needs of perception + scoring, ``model`` its production
implementation; ``offline`` scores a recorded drive into JSON lines. Run it with
``longtail-agent run --config agent.toml`` (see ``agent.example.toml`` next to this file).
"""
