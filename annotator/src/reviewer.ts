// The review view: the annotator's boxes (solid) over the pre-labels (dashed) and, on overlap
// tasks, the other annotators' boxes coloured by agreement (agreement.ts); the reviewer
// rejects boxes with a reason code and a comment (x), clears a rejection (v), and approves the
// task or rejects it (with every box verdict and an optional frame-level reason and comment).
// The senior panel adjudicates in the same view: it accepts the labels being judged (the
// consensus proposal of a disagreeing overlap task) with a comment.
import {
  ApiError,
  adjudicate,
  agreement,
  ontology,
  review,
  type BoxLabel,
  type BoxVerdict,
  type Lease,
} from "./api/client";
import { agreementLayer, otherBoxes, renderAgreement, type OtherBox } from "./agreement";
import {
  APPROVED_COLOUR,
  PRELABEL_COLOUR,
  REJECTED_COLOUR,
  SELECTED_COLOUR,
  type BoxStyle,
} from "./scene";
import type { Shortcut } from "./shortcuts";
import { $, Workbench, el } from "./workbench";

export class Reviewer extends Workbench {
  readonly mode = "review" as const;
  /** box id -> verdict; absent: approved */
  private rejections = new Map<string, BoxVerdict>();
  private reasons: string[] = [];
  /** the other annotators' boxes of this frame, with their agreement (overlap tasks) */
  private others: OtherBox[] = [];

  constructor(
    lease: Lease,
    onDone: () => void,
    readonly stage: "review" | "adjudicate" = "review",
  ) {
    super(lease, onDone);
    this.state.reset((lease.working?.labels.boxes ?? []) as BoxLabel[]);
  }

  override async open(): Promise<void> {
    const sets = await agreement(this.lease.assignment_id);
    this.others = otherBoxes(this.lease, sets, this.frameId);
    renderAgreement(agreementPanel(), sets, this.others);
    $("reject").hidden = this.stage === "adjudicate"; // the panel closes the task
    $("approve").textContent = this.stage === "adjudicate" ? "Accept these labels" : "Approve task";
    this.reasons = (await ontology()).review_reasons;
    $<HTMLSelectElement>("reason").replaceChildren(...this.reasons.map((r) => new Option(r, r)));
    $<HTMLSelectElement>("frame-reason").replaceChildren(
      new Option("(none)", ""),
      ...this.reasons.map((r) => new Option(r, r)),
    );
    await super.open();
    $("approve").onclick = () => void this.decide("approve");
    $("reject").onclick = () => void this.decide("reject");
    $("reject-box").onclick = () => this.rejectSelected();
  }

  override close(): void {
    super.close();
    $("approve").onclick = null;
    $("reject").onclick = null;
  }

  protected layers(): Array<{ box: BoxLabel; style: BoxStyle }> {
    const sel = this.state.selection;
    const pre = this.prelabels.map((box) => ({
      box,
      style: { colour: sel?.id === box.id && sel.layer === "prelabels" ? SELECTED_COLOUR : PRELABEL_COLOUR, dashed: true },
    }));
    const labels = this.state.boxes.map((box) => ({
      box,
      style: {
        colour:
          sel?.layer === "labels" && sel.id === box.id
            ? SELECTED_COLOUR
            : this.rejections.has(box.id)
              ? REJECTED_COLOUR
              : APPROVED_COLOUR,
        dashed: false,
      },
    }));
    // the other annotators last: an agreeing box lies on the judged one, its dashes over it
    return [...pre, ...labels, ...agreementLayer(this.others)];
  }

  protected panel(): void {
    const sel = this.state.selection;
    $("boxes").replaceChildren(
      ...this.state.boxes.map((b) => {
        const verdict = this.rejections.get(b.id);
        return el(
          "li",
          {
            className: `${sel?.layer === "labels" && sel.id === b.id ? "selected" : ""} ${verdict ? "rejected" : ""}`,
            onclick: () => this.state.select({ layer: "labels", id: b.id }),
          },
          `${b.id} · ${b.class_name} · ${b.box[3].toFixed(2)}×${b.box[4].toFixed(2)}×${b.box[5].toFixed(2)} m`,
          ...(verdict
            ? [el("div", { className: "verdict" }, `reject: ${(verdict.reasons ?? []).join(", ")}${verdict.comment ? ` — “${verdict.comment}”` : ""}`)]
            : []),
        );
      }),
    );
    $("prelabels").replaceChildren(
      ...this.prelabels.map((p) =>
        el("li", { onclick: () => this.state.select({ layer: "prelabels", id: p.id }) }, `${p.class_name} · score ${(p.score ?? 0).toFixed(2)}`),
      ),
    );
    $("review-box").hidden = true;
    $("classes").replaceChildren();
  }

  private rejectSelected(): void {
    const box = this.state.selectedLabel();
    if (!box) {
      this.flash("select one of the annotator's boxes first", true);
      return;
    }
    const reason = $<HTMLSelectElement>("reason").value;
    const comment = $<HTMLInputElement>("box-comment").value;
    this.rejections.set(box.id, { box_id: box.id, reasons: [reason], comment });
    $<HTMLInputElement>("box-comment").value = "";
    this.redraw();
  }

  protected act(shortcut: Shortcut): void {
    const box = this.state.selectedLabel();
    if (shortcut.action === "reject-box") this.rejectSelected();
    if (shortcut.action === "approve-box" && box) {
      this.rejections.delete(box.id);
      this.redraw();
    }
  }

  private async decide(decision: "approve" | "reject"): Promise<void> {
    const frameReason = $<HTMLSelectElement>("frame-reason").value;
    const comment = $<HTMLTextAreaElement>("review-comment").value;
    if (decision === "approve" && this.rejections.size > 0) {
      this.flash(`${this.rejections.size} boxes are rejected: clear them (v) or reject the task`, true);
      return;
    }
    try {
      const judged = this.lease.working?.id;
      const outcome =
        this.stage === "adjudicate" && judged !== undefined
          ? await adjudicate(this.lease.assignment_id, { accept_label_set: judged, comment })
          : await review(this.lease.assignment_id, {
              decision,
              reasons: decision === "reject" && frameReason ? [frameReason] : [],
              box_verdicts: decision === "reject" ? [...this.rejections.values()] : [],
              comment,
            });
      const done = this.stage === "adjudicate" ? "decided" : decision === "approve" ? "approved" : "rejected";
      this.flash(`task ${outcome.task_id} ${done}; it is now at ${outcome.stage}`);
      $<HTMLTextAreaElement>("review-comment").value = "";
      this.close();
      this.onDone();
    } catch (err) {
      this.flash(`not sent: ${err instanceof ApiError ? err.detail : String(err)}`, true);
    }
  }
}

/** The side panel's agreement section, made once after the pre-label list. */
function agreementPanel(): HTMLElement {
  const found = document.getElementById("agreement");
  if (found) return found;
  const made = el("div", { id: "agreement" });
  $("prelabels").after(made);
  return made;
}
