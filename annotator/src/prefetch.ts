// Points fetched ahead: while a task is open, the key frame of the task the person will most
// likely get next (GET /work/{id}/upcoming, the queue's own choice without the lease) is
// fetched in the background, so opening that task draws its points without waiting for the
// network. A frame's id is the SHA-256 of its payload, so its points are the same whichever
// task or lease they came through; a guess that missed (someone else took the task, a gold
// task came instead) is dropped and the next open loads as usual.
import { framePointsLod, upcoming, upcomingPoints } from "./api/client";

/** frames held ahead at most (one is the next task's key frame; a 120k-point frame is 1.9 MB) */
const MAX_AHEAD = 2;
/** `?prefetch=off` in the page's address turns fetching ahead off (a metered link) */
const ENABLED = new URLSearchParams(window.location.search).get("prefetch") !== "off";

const ahead = new Map<string, Promise<Float32Array>>();

/** Where the points of the last frame opened came from (the speed benchmark reads it). */
function mark(source: "prefetch" | "network"): void {
  document.body.dataset.pointsFrom = source;
}

/** The points of `frameId` of the leased assignment, in the frame's order: from what was
 * fetched ahead if it is there, else streamed coarse level first (`onCoarse` gets it). */
export async function loadFramePoints(
  assignmentId: number,
  frameId: string,
  onCoarse?: (coarse: Float32Array) => void,
): Promise<Float32Array> {
  const early = ahead.get(frameId);
  ahead.delete(frameId);
  if (early) {
    try {
      const points = await early;
      mark("prefetch");
      return points;
    } catch {
      // the fetch ahead failed (the guess went stale): load it now
    }
  }
  mark("network");
  return framePointsLod(assignmentId, frameId, onCoarse);
}

/** Fetch the key frame of the task expected after `assignmentId` in the background; the
 * frame's id lands in `data-prefetched` on the page's body once its points are in. */
export async function prefetchNext(assignmentId: number): Promise<void> {
  if (!ENABLED) return;
  const next = await upcoming(assignmentId).catch(() => null);
  if (!next || ahead.has(next.key_frame_id)) return;
  const frameId = next.key_frame_id;
  const points = upcomingPoints(assignmentId, frameId);
  ahead.set(frameId, points);
  while (ahead.size > MAX_AHEAD) ahead.delete(ahead.keys().next().value as string);
  try {
    await points;
    document.body.dataset.prefetched = frameId;
  } catch {
    ahead.delete(frameId); // gone stale meanwhile: nothing to keep
  }
}
