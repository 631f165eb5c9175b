// Small DOM helpers for the dashboard views: elements from a tag, attributes and children, and
// tables of text cells. Text goes in as text (never as HTML), so API strings cannot inject markup.

export type Child = Node | string | number | null | undefined | false;

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | boolean | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    node.setAttribute(key, value === true ? "" : value);
  }
  append(node, children);
  return node;
}

export function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** A cell: its content and, optionally, a class (e.g. ``fail``) and a title. */
export interface Cell {
  text: Child;
  cls?: string;
  title?: string;
  span?: number; // columns the cell spans
}

/** A table with a header row; a row's class marks it (``fail`` rows are drawn red). */
export function table(
  headers: string[],
  rows: { cells: (Cell | Child)[]; cls?: string; attrs?: Record<string, string> }[],
  attrs: Record<string, string> = {},
): HTMLTableElement {
  const body = rows.map((row) =>
    el(
      "tr",
      { class: row.cls, ...row.attrs },
      ...row.cells.map((c) =>
        c !== null && typeof c === "object" && "text" in c
          ? el(
              "td",
              { class: c.cls, title: c.title, colspan: c.span ? String(c.span) : undefined },
              c.text,
            )
          : el("td", {}, c),
      ),
    ),
  );
  return el(
    "table",
    attrs,
    el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", {}, h)))),
    el("tbody", {}, ...body),
  );
}

/** A titled section of a view. */
export function section(title: string, id: string, ...children: Child[]): HTMLElement {
  return el("section", { class: "card", id }, el("h2", {}, title), ...children);
}

/** A box of fixed height that a chart's canvas fills. */
export function chartBox(
  id: string,
  height = 260,
): { box: HTMLElement; canvas: HTMLCanvasElement } {
  const canvas = el("canvas", { id });
  const box = el("div", { class: "chart", style: `height:${height}px` }, canvas);
  return { box, canvas };
}
