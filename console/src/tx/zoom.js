// Zoom and pan of an SVG drawing: wheel zooms about the pointer, dragging pans, and the
// page's buttons zoom about the centre or fit the drawing to the frame. Written by hand (about
// a hundred lines) rather than with d3-zoom, which would bring d3-selection, d3-transition and
// d3-interpolate (~40 KB) into the one-page console for the same three gestures.

const MIN = 0.002, MAX = 3;

export class PanZoom {
  /** `svg` the frame, `g` the group whose transform moves; `onChange(k)` after every change. */
  constructor(svg, g, onChange) {
    Object.assign(this, { svg, g, onChange, x: 0, y: 0, k: 1, bounds: null });
    svg.addEventListener("wheel", (e) => {
      e.preventDefault();
      const f = Math.exp(-e.deltaY * (e.deltaMode === 1 ? 0.05 : 0.0015));
      const r = svg.getBoundingClientRect();
      this.zoomAt(f, e.clientX - r.left, e.clientY - r.top);
    }, { passive: false });
    // A drag may start on a node: it pans once the pointer has moved a few pixels, and the
    // click that ends it then does not open the node.
    let drag = null, swallow = false;
    svg.addEventListener("pointerdown", (e) => {
      if (e.button !== 0 || e.target.closest(".toggle")) return;
      drag = { id: e.pointerId, x: e.clientX, y: e.clientY, ox: this.x, oy: this.y, moved: false };
    });
    svg.addEventListener("pointermove", (e) => {
      if (!drag || e.pointerId !== drag.id) return;
      const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
      if (!drag.moved && Math.hypot(dx, dy) < 5) return;
      if (!drag.moved) {
        drag.moved = true;
        svg.setPointerCapture(e.pointerId);
        svg.classList.add("dragging");
      }
      this.set(drag.ox + dx, drag.oy + dy, this.k);
    });
    const end = (e) => {
      if (!drag || e.pointerId !== drag.id) return;
      swallow = drag.moved;
      drag = null;
      svg.classList.remove("dragging");
    };
    svg.addEventListener("pointerup", end);
    svg.addEventListener("pointercancel", end);
    svg.addEventListener("click", (e) => {
      if (swallow) { e.preventDefault(); e.stopPropagation(); }
      swallow = false;
    }, true);
  }

  size() {
    const r = this.svg.getBoundingClientRect();
    return { w: r.width || 800, h: r.height || 500 };
  }

  set(x, y, k) {
    Object.assign(this, { x, y, k: Math.min(MAX, Math.max(MIN, k)) });
    this.g.setAttribute("transform", `translate(${this.x.toFixed(1)},${this.y.toFixed(1)}) scale(${this.k.toFixed(4)})`);
    this.onChange?.(this.k);
  }

  /** Zooms by `f` keeping the drawing point under (px, py) in place. */
  zoomAt(f, px, py) {
    const k = Math.min(MAX, Math.max(MIN, this.k * f));
    const wx = (px - this.x) / this.k, wy = (py - this.y) / this.k;
    this.set(px - wx * k, py - wy * k, k);
  }

  zoom(f) {
    const { w, h } = this.size();
    this.zoomAt(f, w / 2, h / 2);
  }

  /** Shows all of `bounds` ({x0, y0, x1, y1} in drawing units) inside the frame, never
   * magnified past 1. */
  fit(bounds = this.bounds, pad = 16) {
    if (!bounds) return;
    const { w, h } = this.size();
    const bw = Math.max(1, bounds.x1 - bounds.x0), bh = Math.max(1, bounds.y1 - bounds.y0);
    const k = Math.min(1, (w - 2 * pad) / bw, (h - 2 * pad) / bh);
    this.set((w - bw * k) / 2 - bounds.x0 * k, pad - bounds.y0 * k, k);
  }

  /** Pans (and zooms in to at least `minK`) so that the box {x, y, w, h} is inside the frame. */
  reveal(box, minK = 0) {
    const { w, h } = this.size();
    let { x, y, k } = this;
    if (k < minK) {
      k = minK;
      x = w / 2 - (box.x + box.w / 2) * k;
      y = h / 2 - (box.y + box.h / 2) * k;
    }
    const m = 12;
    const left = box.x * k + x, right = (box.x + box.w) * k + x, top = box.y * k + y, bottom = (box.y + box.h) * k + y;
    if (left < m) x += m - left;
    else if (right > w - m) x -= right - (w - m);
    if (top < m) y += m - top;
    else if (bottom > h - m) y -= bottom - (h - m);
    if (x !== this.x || y !== this.y || k !== this.k) this.set(x, y, k);
  }

  /** True when the box {x, y, w, h} lies inside the frame as drawn now. */
  shows(box) {
    const { w, h } = this.size();
    const l = box.x * this.k + this.x, t = box.y * this.k + this.y;
    return l >= 0 && t >= 0 && l + box.w * this.k <= w && t + box.h * this.k <= h;
  }
}
