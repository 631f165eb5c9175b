"""``longtail release …``: the signing key, the model registry and rollout campaigns.

::

    longtail release keygen                    # create the signing key (0600), print its public key
    longtail release pubkey                    # the public key vehicles are configured with (hex)
    longtail release register PKG [--run-id R --dataset D --parent V --metrics m.json]
    longtail release seed-baseline             # the shipped baseline as the first champion
    longtail release list                      # versions and aliases
    longtail release promote VERSION           # make VERSION the champion now (audited)
    longtail release campaign start VERSION [--canary-share 0.1 --min-reports 3]
    longtail release campaign status [ID]      # the active campaign when ID is left out
    longtail release campaign evaluate|promote|rollback ID [--note TEXT]

Every command takes ``--config backend.toml`` (the ``[release]`` section names the key file).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from backend.config import BackendConfig, load_config

#: who the audit log names for a command run on the server's machine
ACTOR = "cli"


def register(subparsers: Any) -> None:
    """Add the ``release`` command group to the ``longtail`` CLI."""
    parser = subparsers.add_parser("release", help="model registry, signing and rollouts")
    _config_option(parser)
    sub = parser.add_subparsers(dest="release_command", required=True, metavar="COMMAND")

    keygen = sub.add_parser("keygen", help="create the release signing key (never overwrites)")
    _config_option(keygen)
    keygen.set_defaults(handler=_keygen)
    pubkey = sub.add_parser("pubkey", help="print the signing key's public half (hex)")
    _config_option(pubkey)
    pubkey.set_defaults(handler=_pubkey)

    reg = sub.add_parser("register", help="pack, sign and register a model package directory")
    _config_option(reg)
    reg.add_argument("package", type=Path)
    reg.add_argument("--run-id", default=None, help="the training run that made it")
    reg.add_argument("--dataset", default=None, help="digest of the dataset version it saw")
    reg.add_argument("--parent", default=None, help="the version it was fine-tuned from")
    reg.add_argument("--metrics", type=Path, default=None, help="JSON file of its figures")
    reg.set_defaults(handler=_register)

    seed = sub.add_parser("seed-baseline", help="register the shipped baseline as champion")
    _config_option(seed)
    seed.set_defaults(handler=_seed)

    listing = sub.add_parser("list", help="registered versions and aliases")
    _config_option(listing)
    listing.set_defaults(handler=_list)

    promote = sub.add_parser("promote", help="make a version the champion now (no canary)")
    _config_option(promote)
    promote.add_argument("version")
    promote.add_argument("--note", default="")
    promote.set_defaults(handler=_promote)

    turn = sub.add_parser(
        "turn",
        help="retrain from the champion on a dataset version, gate it on the suite, and start "
        "a canary rollout if the gate passes",
    )
    _config_option(turn)
    turn.add_argument("dataset", help="digest of the dataset version to learn from")
    turn.add_argument("--suite", type=Path, required=True, help="the edge-case suite manifest")
    turn.add_argument(
        "--replay", type=Path, nargs="*", default=[], help="earlier training drives to replay"
    )
    turn.add_argument("--gate", type=Path, default=None, help="gate file (default: shipped)")
    turn.add_argument(
        "--label-agreement", type=float, default=None, help="the version's QA agreement (alpha)"
    )
    turn.add_argument("--canary-share", type=float, default=None)
    turn.set_defaults(handler=_turn)

    campaign = sub.add_parser("campaign", help="rollout campaigns")
    _config_option(campaign)
    csub = campaign.add_subparsers(dest="campaign_command", required=True, metavar="ACTION")
    start = csub.add_parser("start", help="roll a version out to a canary share first")
    _config_option(start)
    start.add_argument("version")
    start.add_argument("--canary-share", type=float, default=None)
    start.add_argument("--min-reports", type=int, default=None)
    start.set_defaults(handler=_campaign_start)
    status = csub.add_parser("status", help="a campaign and its canary's health now")
    _config_option(status)
    status.add_argument("id", type=int, nargs="?", default=None)
    status.set_defaults(handler=_campaign_status)
    for action, help_text in (
        ("evaluate", "judge now: promote if healthy, roll back if a limit is broken"),
        ("promote", "promote the candidate to the whole fleet now"),
        ("rollback", "withdraw the candidate (or undo its promotion)"),
    ):
        p = csub.add_parser(action, help=help_text)
        _config_option(p)
        p.add_argument("id", type=int)
        p.add_argument("--note", default="")
        p.set_defaults(handler=_campaign_decide, action=action)


def _config_option(parser: argparse.ArgumentParser) -> None:
    # accepted before or after the sub-command; SUPPRESS keeps an earlier value
    parser.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="backend TOML file")


def _config(args: argparse.Namespace) -> BackendConfig:
    return load_config(getattr(args, "config", None))


def _keygen(args: argparse.Namespace) -> int:
    from backend.release.signing import generate_key_file

    signer = generate_key_file(Path(_config(args).release.signing_key_path))
    print(f"created {signer.source}\npublic key {signer.public_key_hex}")
    return 0


def _pubkey(args: argparse.Namespace) -> int:
    from backend.release.signing import Signer

    print(Signer.from_key_file(Path(_config(args).release.signing_key_path)).public_key_hex)
    return 0


def _run(args: argparse.Namespace, action: Any) -> int:
    """Build the release services of the configured backend (with the safety stage's hook: a
    promotion stores the case it released), run ``action`` on them, close."""
    from backend.wiring import build_blob_store, build_release_stage, open_database

    config = _config(args)
    db = open_database(config.metadata)
    try:
        release, _ = build_release_stage(db, build_blob_store(config.storage), config)
        result: int = action(release)
        return result
    finally:
        db.close()


def _register(args: argparse.Namespace) -> int:
    from core.errors import FormatError

    metrics: dict[str, Any] = {}
    if args.metrics is not None:
        try:
            metrics = json.loads(args.metrics.read_text())
        except (OSError, ValueError) as exc:
            raise FormatError(f"{args.metrics}: cannot read metrics JSON: {exc}") from exc

    def action(release: Any) -> int:
        record = release.registry.register(
            args.package,
            run_id=args.run_id,
            dataset_digest=args.dataset,
            parent_version=args.parent,
            metrics=metrics,
            actor=ACTOR,
        )
        print(f"{record.version}\t{record.digest}\t{record.size} bytes")
        return 0

    return _run(args, action)


def _seed(args: argparse.Namespace) -> int:
    from backend.release.registry import register_baseline

    def action(release: Any) -> int:
        record = register_baseline(release.registry, actor=ACTOR)
        print(f"{record.version}\t{record.digest}")
        return 0

    return _run(args, action)


def _list(args: argparse.Namespace) -> int:
    def action(release: Any) -> int:
        aliases = {a.version: a.name for a in release.registry.aliases()}
        for r in release.registry.list(limit=1000):
            tag = aliases.get(r.version, "")
            print(
                f"{r.version}\t{r.digest[:12]}\t{r.size}\t{r.created_at:%Y-%m-%dT%H:%M:%SZ}\t{tag}"
            )
        return 0

    return _run(args, action)


def _promote(args: argparse.Namespace) -> int:
    def action(release: Any) -> int:
        previous = release.registry.promote(args.version, actor=ACTOR, note=args.note)
        print(f"champion {args.version} (previous {previous or 'none'})")
        return 0

    return _run(args, action)


def _campaign_start(args: argparse.Namespace) -> int:
    def action(release: Any) -> int:
        campaign = release.rollout.start_campaign(
            args.version,
            canary_share=args.canary_share or release.config.canary_share,
            health_limits=release.default_limits(),
            min_canary_reports=args.min_reports or release.config.min_canary_reports,
            actor=ACTOR,
        )
        print(f"campaign {campaign.id}: canary {', '.join(campaign.canary_vehicles) or 'none'}")
        return 0

    return _run(args, action)


def _campaign_status(args: argparse.Namespace) -> int:
    def action(release: Any) -> int:
        campaign = release.rollout.get(args.id) if args.id else release.rollout.active()
        if campaign is None:
            print("no active campaign")
            return 0
        evaluation = release.rollout.evaluate(campaign.id, decide=False)
        print(f"campaign {campaign.id} of {campaign.version}: {campaign.state}")
        print(f"  {evaluation.outcome}: {evaluation.reason}")
        return 0

    return _run(args, action)


def _campaign_decide(args: argparse.Namespace) -> int:
    def action(release: Any) -> int:
        if args.action == "evaluate":
            evaluation = release.rollout.evaluate(args.id)
            print(f"campaign {args.id}: {evaluation.outcome}: {evaluation.reason}")
            return 0
        decide = release.rollout.promote if args.action == "promote" else release.rollout.rollback
        campaign = decide(args.id, actor=ACTOR, note=args.note)
        print(f"campaign {campaign.id}: {campaign.state}: {campaign.decision_reason}")
        return 0

    return _run(args, action)


def _turn(args: argparse.Namespace) -> int:
    import json

    from backend.evaluation.suite import load_suite
    from backend.release.gate import DEFAULT_GATE_FILE, load_gate
    from backend.release.turn import run_turn
    from backend.wiring import build_backend

    suite = load_suite(args.suite)
    gate = load_gate(args.gate or DEFAULT_GATE_FILE)
    backend = build_backend(_config(args))
    try:
        # the one-turn lease: refused while a turn runs anywhere (the trigger's, the API's)
        with backend.training.lease(ACTOR, ACTOR, [f"dataset version {args.dataset}"]) as held:
            result = run_turn(
                backend,
                dataset_digest=args.dataset,
                replay=args.replay,
                suite=suite,
                gate=gate,
                label_agreement=args.label_agreement,
                canary_share=args.canary_share,
            )
            held.summary = result.summary()
    finally:
        backend.close()
    print(result.verdict.summary())
    print(json.dumps(result.summary(), indent=2))
    return 0 if result.verdict.passed else 1
