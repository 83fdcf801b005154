/**
 * Synthetic imaging phantoms for the demonstration triage models.
 *
 * Pure and seeded: the same seed and options give the same pixels, bit for
 * bit. Images come back as stored pixel values plus the DICOM attributes a
 * writer needs to embed them in a real Part-10 file (Rescale Slope/Intercept,
 * Pixel Representation, Bits Stored, Photometric Interpretation), together
 * with the ground truth.
 *
 * These are cartoons of anatomy, good enough to exercise a pipeline and train
 * a demonstration model. They are not a validation set for anything clinical.
 *
 * @see https://dicom.nema.org/medical/dicom/current/output/chtml/part03/sect_C.7.6.3.html (Image Pixel module)
 * @see https://dicom.nema.org/medical/dicom/current/output/chtml/part03/sect_C.11.html#sect_C.11.1.1.2 (Modality LUT / rescale)
 */
import { createRng, type Rng } from './random';

/** Findings a phantom can carry. */
export const Finding = {
	none: 'none',
	subdural: 'subdural',
	intraparenchymal: 'intraparenchymal',
	pneumothorax: 'pneumothorax'
} as const;
export type Finding = (typeof Finding)[keyof typeof Finding];

/** Photometric interpretations the phantoms produce. @see PS3.3 C.7.6.3.1.2 */
export const Photometric = {
	monochrome1: 'MONOCHROME1',
	monochrome2: 'MONOCHROME2'
} as const;
export type Photometric = (typeof Photometric)[keyof typeof Photometric];

/** Ground truth attached to a phantom. */
export interface PhantomLabel {
	positive: boolean;
	finding: Finding;
	/** Bounding box of the finding in pixel coordinates; absent when negative. */
	region?: { x: number; y: number; width: number; height: number };
}

/** One synthetic image, as stored pixel values plus what a DICOM writer needs. */
export interface PhantomImage {
	modality: 'CT' | 'DX';
	bodyPart: 'HEAD' | 'CHEST';
	rows: number;
	columns: number;
	/** Stored values, row-major; Int16Array when pixelRepresentation is 1. */
	pixels: Int16Array | Uint16Array;
	bitsAllocated: 16;
	bitsStored: number;
	/** 0 unsigned, 1 two's complement. @see PS3.3 C.7.6.3.1 */
	pixelRepresentation: 0 | 1;
	rescaleSlope: number;
	rescaleIntercept: number;
	photometricInterpretation: Photometric;
	/** Row spacing, column spacing in mm. */
	pixelSpacing: [number, number];
	/** A sensible display window in output (rescaled) units. */
	windowCenter: number;
	windowWidth: number;
	label: PhantomLabel;
}

/** Options for a head CT slice. */
export interface HeadCtOptions {
	/** Matrix size (square). Default 256. */
	size?: number;
	/** Force the presence (true) or absence (false) of hemorrhage; default random 50 %. */
	hemorrhage?: boolean;
	/** Force the hemorrhage type when present. */
	kind?: typeof Finding.subdural | typeof Finding.intraparenchymal;
	/** Stored value encoding; default random among the common scanner encodings. */
	encoding?: CtEncoding;
}

/** How a CT scanner stores Hounsfield units. */
export const CtEncoding = {
	/** unsigned 12-bit, intercept -1024 (common on many scanners) */
	unsigned12: 'unsigned12',
	/** signed 16-bit, intercept -1024 */
	signedOffset: 'signedOffset',
	/** signed 16-bit, intercept 0: stored value is HU */
	signedHu: 'signedHu'
} as const;
export type CtEncoding = (typeof CtEncoding)[keyof typeof CtEncoding];

const CT_ENCODINGS = Object.values(CtEncoding);

/** Options for a chest radiograph. */
export interface ChestXrOptions {
	/** Matrix size (square). Default 256. */
	size?: number;
	/** Force the presence (true) or absence (false) of a pneumothorax; default random 50 %. */
	pneumothorax?: boolean;
	/** Photometric interpretation of the stored values; default MONOCHROME2. */
	photometric?: Photometric;
}

const smoothstep = (e0: number, e1: number, x: number): number => {
	const t = Math.min(1, Math.max(0, (x - e0) / (e1 - e0)));
	return t * t * (3 - 2 * t);
};

/** Sub-pixel soft mask: 1 well inside (d < -0.5), 0 well outside, for a signed distance in pixels. */
const inside = (signedDistancePx: number): number => 1 - smoothstep(-0.75, 0.75, signedDistancePx);

function encodeCt(hu: Float32Array, encoding: CtEncoding): {
	pixels: Int16Array | Uint16Array;
	pixelRepresentation: 0 | 1;
	bitsStored: number;
	rescaleIntercept: number;
} {
	switch (encoding) {
		case CtEncoding.unsigned12: {
			const out = new Uint16Array(hu.length);
			for (let i = 0; i < hu.length; i++) out[i] = Math.min(4095, Math.max(0, Math.round(hu[i] + 1024)));
			return { pixels: out, pixelRepresentation: 0, bitsStored: 12, rescaleIntercept: -1024 };
		}
		case CtEncoding.signedOffset: {
			const out = new Int16Array(hu.length);
			for (let i = 0; i < hu.length; i++) out[i] = Math.min(32767, Math.max(-32768, Math.round(hu[i] + 1024)));
			return { pixels: out, pixelRepresentation: 1, bitsStored: 16, rescaleIntercept: -1024 };
		}
		case CtEncoding.signedHu: {
			const out = new Int16Array(hu.length);
			for (let i = 0; i < hu.length; i++) out[i] = Math.min(32767, Math.max(-32768, Math.round(hu[i])));
			return { pixels: out, pixelRepresentation: 1, bitsStored: 16, rescaleIntercept: 0 };
		}
		default:
			return encoding satisfies never;
	}
}

/** Per-study head geometry; shared by every slice of a series. */
interface HeadParams {
	size: number;
	cx: number;
	cy: number;
	/** semi-axes of the scalp outline, px, at the widest slice */
	a: number;
	b: number;
	rot: number;
	scalp: number;
	skull: number;
	skullHu: number;
	brainHu: number;
	greyWhite: number;
	csfHu: number;
	ventricle: number;
	noise: number;
	encoding: CtEncoding;
	bleed: BleedParams | null;
}

interface BleedParams {
	kind: typeof Finding.subdural | typeof Finding.intraparenchymal;
	hu: number;
	/** z centre and half-extent in series coordinates (0 skull base .. 1 vertex) */
	zc: number;
	hz: number;
	/** intraparenchymal: centre in ellipse-normalised coordinates and radius in px */
	u: number;
	v: number;
	radius: number;
	lobes: number;
	lobePhase: number;
	/** subdural: angular centre, half-span and maximum thickness in px */
	angle: number;
	span: number;
	thickness: number;
}

function sampleHead(rng: Rng, opts: HeadCtOptions): HeadParams {
	const size = opts.size ?? 256;
	const present = opts.hemorrhage ?? rng.chance(0.5);
	const a = size * rng.uniform(0.33, 0.43);
	const b = a * rng.uniform(1.1, 1.25);
	let bleed: BleedParams | null = null;
	if (present) {
		const kind = opts.kind ?? (rng.chance(0.5) ? Finding.subdural : Finding.intraparenchymal);
		const ang = rng.uniform(0, 2 * Math.PI);
		const rr = Math.sqrt(rng.uniform(0.05, 0.45));
		bleed = {
			kind,
			hu: rng.uniform(60, 80),
			zc: rng.uniform(0.4, 0.65),
			hz: rng.uniform(0.12, 0.3),
			u: rr * Math.cos(ang),
			v: rr * Math.sin(ang),
			radius: size * rng.uniform(0.03, 0.09),
			lobes: rng.int(2, 5),
			lobePhase: rng.uniform(0, 2 * Math.PI),
			angle: rng.uniform(0, 2 * Math.PI),
			span: rng.uniform(0.45, 1.1),
			thickness: size * rng.uniform(0.02, 0.055)
		};
	}
	return {
		size,
		cx: size / 2 + rng.uniform(-0.06, 0.06) * size,
		cy: size / 2 + rng.uniform(-0.06, 0.06) * size,
		a,
		b,
		rot: rng.uniform(-0.25, 0.25),
		scalp: size * rng.uniform(0.01, 0.02),
		skull: size * rng.uniform(0.015, 0.035),
		skullHu: rng.uniform(700, 1400),
		brainHu: rng.uniform(30, 40),
		greyWhite: rng.uniform(4, 9),
		csfHu: rng.uniform(2, 10),
		ventricle: rng.uniform(0.7, 1.4),
		noise: rng.uniform(3, 8),
		encoding: opts.encoding ?? CT_ENCODINGS[rng.int(0, CT_ENCODINGS.length - 1)],
		bleed
	};
}

/** Head outline shrinks towards the skull base and the vertex. */
const headScaleAt = (z: number): number => Math.sqrt(Math.max(0.05, 1 - ((z - 0.5) / 0.62) ** 2));

/** Hemorrhage extent factor at slice z (0 when the slice misses it). */
function bleedScaleAt(bleed: BleedParams, z: number): number {
	const t = (z - bleed.zc) / bleed.hz;
	return Math.abs(t) >= 1 ? 0 : Math.sqrt(1 - t * t);
}

function renderHeadSlice(p: HeadParams, z: number, rng: Rng): { hu: Float32Array; label: PhantomLabel } {
	const n = p.size;
	const hu = new Float32Array(n * n);
	const s = headScaleAt(z);
	const a = p.a * s;
	const b = p.b * s;
	const cos = Math.cos(p.rot);
	const sin = Math.sin(p.rot);
	const rMin = Math.min(a, b);
	const skullOuter = 1 - p.scalp / rMin;
	const skullInner = skullOuter - p.skull / rMin;
	const ventScale = smoothstep(0.3, 0.42, z) * (1 - smoothstep(0.7, 0.8, z)) * p.ventricle;
	const bs = p.bleed ? bleedScaleAt(p.bleed, z) : 0;
	const bleed = p.bleed && bs > 0 ? p.bleed : null;
	let minX = n;
	let minY = n;
	let maxX = -1;
	let maxY = -1;
	for (let y = 0; y < n; y++) {
		for (let x = 0; x < n; x++) {
			const dx = x + 0.5 - p.cx;
			const dy = y + 0.5 - p.cy;
			// head frame: u along the ellipse a-axis, v along b
			const u = (dx * cos + dy * sin) / a;
			const v = (-dx * sin + dy * cos) / b;
			const r = Math.sqrt(u * u + v * v);
			const dPx = (r - 1) * rMin; // signed distance to the scalp outline, approx.
			let value = -1000;
			const inHead = inside(dPx);
			if (inHead > 0) {
				const inSkull = inside((r - skullOuter) * rMin);
				const inBrain = inside((r - skullInner) * rMin);
				// cortex (grey matter) band just inside the inner table, white matter deeper
				const cortex = smoothstep(skullInner - 0.16, skullInner - 0.06, r);
				let brain = p.brainHu - p.greyWhite / 2 + p.greyWhite * cortex;
				if (ventScale > 0) {
					let vent = 0;
					for (const side of [-1, 1]) {
						const vu = (u - side * 0.1) / (0.075 * ventScale);
						const vv = (v + 0.05 - 0.03 * side * u) / (0.3 * ventScale);
						vent = Math.max(vent, inside((Math.sqrt(vu * vu + vv * vv) - 1) * 0.075 * ventScale * rMin));
					}
					brain = brain * (1 - vent) + p.csfHu * vent;
				}
				let bleedMix = 0;
				if (bleed) {
					if (bleed.kind === Finding.intraparenchymal) {
						const bu = (u - bleed.u) * a;
						const bv = (v - bleed.v) * b;
						const theta = Math.atan2(bv, bu);
						const rad = bleed.radius * bs * (1 + 0.22 * Math.sin(bleed.lobes * theta + bleed.lobePhase));
						bleedMix = inside(Math.sqrt(bu * bu + bv * bv) - rad);
					} else {
						const theta = Math.atan2(v, u);
						let dAng = Math.abs(theta - bleed.angle) % (2 * Math.PI);
						if (dAng > Math.PI) dAng = 2 * Math.PI - dAng;
						if (dAng < bleed.span) {
							const thick = bleed.thickness * bs * Math.cos((dAng / bleed.span) * (Math.PI / 2));
							const depth = (skullInner - r) * rMin; // px inward from the inner table
							bleedMix = inside(depth - thick);
						}
					}
					if (bleedMix > 0.5) {
						if (x < minX) minX = x;
						if (y < minY) minY = y;
						if (x > maxX) maxX = x;
						if (y > maxY) maxY = y;
					}
				}
				if (bleed && bleedMix > 0) brain = brain * (1 - bleedMix) + bleed.hu * bleedMix;
				const tissue = inSkull * (inBrain * brain + (1 - inBrain) * p.skullHu) + (1 - inSkull) * 35;
				value = -1000 * (1 - inHead) + tissue * inHead;
			}
			hu[y * n + x] = value + p.noise * rng.normal();
		}
	}
	const positive = maxX >= 0 && (maxX - minX + 1) * (maxY - minY + 1) >= 4;
	const label: PhantomLabel = positive
		? {
				positive: true,
				finding: bleed!.kind,
				region: { x: minX, y: minY, width: maxX - minX + 1, height: maxY - minY + 1 }
			}
		: { positive: false, finding: Finding.none };
	return { hu, label };
}

function headImage(p: HeadParams, hu: Float32Array, label: PhantomLabel): PhantomImage {
	const enc = encodeCt(hu, p.encoding);
	return {
		modality: 'CT',
		bodyPart: 'HEAD',
		rows: p.size,
		columns: p.size,
		pixels: enc.pixels,
		bitsAllocated: 16,
		bitsStored: enc.bitsStored,
		pixelRepresentation: enc.pixelRepresentation,
		rescaleSlope: 1,
		rescaleIntercept: enc.rescaleIntercept,
		photometricInterpretation: Photometric.monochrome2,
		pixelSpacing: [230 / p.size, 230 / p.size],
		windowCenter: 40,
		windowWidth: 80,
		label
	};
}

/**
 * One axial head CT slice in Hounsfield units, stored with a scanner-like
 * encoding. Positive slices always show hemorrhage (60-80 HU, subdural
 * crescent or intraparenchymal blob); negative slices never do.
 */
export function headCtSlice(seed: number, opts: HeadCtOptions = {}): PhantomImage {
	const rng = createRng(seed);
	const p = sampleHead(rng, opts);
	// a slice through the bleed when positive; otherwise any level a series' slice selection may pick (skull base to vertex)
	const z = p.bleed ? p.bleed.zc + rng.uniform(-0.5, 0.5) * p.bleed.hz : rng.uniform(0.15, 0.9);
	const { hu, label } = renderHeadSlice(p, z, rng);
	return headImage(p, hu, label);
}

/** A synthetic axial head CT series: slices from skull base to vertex. */
export interface HeadCtSeries {
	slices: PhantomImage[];
	/** Slice positions along the patient axis in mm, one per slice. */
	positions: number[];
	sliceThickness: number;
	label: PhantomLabel;
}

/**
 * A whole axial head CT series (one study's worth of slices). The series is
 * positive when any slice shows hemorrhage; slices far from the bleed are
 * negative, as in a real scan.
 */
export function headCtSeries(seed: number, opts: HeadCtOptions & { slices?: number } = {}): HeadCtSeries {
	const rng = createRng(seed);
	const p = sampleHead(rng, opts);
	const count = opts.slices ?? 24;
	const slices: PhantomImage[] = [];
	const positions: number[] = [];
	const thickness = 120 / count;
	let label: PhantomLabel = { positive: false, finding: Finding.none };
	for (let i = 0; i < count; i++) {
		const z = 0.1 + (0.85 * (i + 0.5)) / count;
		const slice = renderHeadSlice(p, z, rng);
		if (slice.label.positive && !label.positive) label = slice.label;
		slices.push(headImage(p, slice.hu, slice.label));
		positions.push(-60 + i * thickness);
	}
	return { slices, positions, sliceThickness: thickness, label };
}

/**
 * A frontal chest radiograph (PA). Stored values are 12-bit, brighter where
 * more attenuating (MONOCHROME2) unless MONOCHROME1 is asked for, in which
 * case the stored values are inverted as a CR/DX device would write them.
 * A pneumothorax shows as a lucent apicolateral rim without lung markings,
 * bounded by a thin visceral pleural line.
 */
export function chestXr(seed: number, opts: ChestXrOptions = {}): PhantomImage {
	const rng = createRng(seed);
	const n = opts.size ?? 256;
	const present = opts.pneumothorax ?? rng.chance(0.5);
	const photometric = opts.photometric ?? Photometric.monochrome2;
	const img = new Float32Array(n * n);
	const markings = new Float32Array(n * n);

	const gain = rng.uniform(0.85, 1.15);
	const air = rng.uniform(150, 350);
	const soft = rng.uniform(2000, 2500);
	const lungHu = rng.uniform(700, 1000);
	const noise = rng.uniform(15, 35);
	const tcx = n / 2 + rng.uniform(-0.04, 0.04) * n;
	const tcy = n * rng.uniform(0.52, 0.58);
	const ta = n * rng.uniform(0.4, 0.47);
	const tb = n * rng.uniform(0.5, 0.6);
	const lungW = n * rng.uniform(0.15, 0.19);
	const lungH = n * rng.uniform(0.3, 0.36);
	const gap = n * rng.uniform(0.05, 0.08);
	const lungCy = tcy - n * rng.uniform(0.02, 0.06);
	const lungs = [-1, 1].map((side) => ({
		side,
		cx: tcx + side * (gap + lungW),
		cy: lungCy,
		w: lungW * rng.uniform(0.92, 1.05),
		h: lungH * rng.uniform(0.95, 1.05)
	}));
	const heart = { cx: tcx + n * rng.uniform(0.03, 0.07), cy: lungCy + lungH * 0.45, a: n * rng.uniform(0.12, 0.16), b: n * rng.uniform(0.1, 0.13) };

	// Superellipse "radius" of a lung; < 1 inside. Flattened at the diaphragm.
	const lungRho = (l: (typeof lungs)[number], x: number, y: number): number => {
		const dx = (x - l.cx) / l.w;
		const dy = (y - l.cy) / l.h;
		return (Math.abs(dx) ** 2.2 + Math.abs(dy) ** (dy > 0 ? 3 : 2)) ** (1 / 2.2);
	};

	// Pneumothorax: the lung collapses away from the apicolateral chest wall in a sector.
	const ptxSide = rng.chance(0.5) ? 0 : 1;
	const depth = rng.uniform(0.2, 0.4);
	const ptxAngle = rng.uniform(-0.25, 0.35); // 0 = lateral-apical diagonal
	const ptxSpan = rng.uniform(0.9, 1.5);
	const ptxDrop = rng.uniform(0.6, 0.85); // how much darker the empty pleural space is
	// collapse depth for a lung point at angle theta (0 when outside the sector)
	const collapseAt = (l: (typeof lungs)[number], x: number, y: number): number => {
		if (!present || l !== lungs[ptxSide]) return 0;
		// angle measured from the upper-lateral diagonal, mirrored per side
		const theta = Math.atan2(-(y - l.cy) / l.h, (l.side * (x - l.cx)) / l.w) - Math.PI / 4;
		const d = Math.abs(theta - ptxAngle);
		return d >= ptxSpan ? 0 : depth * Math.cos((d / ptxSpan) * (Math.PI / 2));
	};

	// Vessel markings: branching segments radiating from each hilum, fainter peripherally.
	const drawSegment = (x0: number, y0: number, x1: number, y1: number, amp: number, sigma: number) => {
		const pad = Math.ceil(sigma * 3);
		const xa = Math.max(0, Math.floor(Math.min(x0, x1)) - pad);
		const xb = Math.min(n - 1, Math.ceil(Math.max(x0, x1)) + pad);
		const ya = Math.max(0, Math.floor(Math.min(y0, y1)) - pad);
		const yb = Math.min(n - 1, Math.ceil(Math.max(y0, y1)) + pad);
		const vx = x1 - x0;
		const vy = y1 - y0;
		const len2 = vx * vx + vy * vy || 1;
		for (let y = ya; y <= yb; y++) {
			for (let x = xa; x <= xb; x++) {
				const t = Math.min(1, Math.max(0, ((x - x0) * vx + (y - y0) * vy) / len2));
				const ex = x - (x0 + t * vx);
				const ey = y - (y0 + t * vy);
				markings[y * n + x] += amp * Math.exp(-(ex * ex + ey * ey) / (2 * sigma * sigma));
			}
		}
	};
	for (const l of lungs) {
		const hx = l.cx - l.side * l.w * 0.55;
		const hy = l.cy + l.h * 0.05;
		const branches = rng.int(10, 16);
		const grow = (x: number, y: number, ang: number, len: number, amp: number, depthLeft: number) => {
			const x1 = x + Math.cos(ang) * len;
			const y1 = y + Math.sin(ang) * len;
			drawSegment(x, y, x1, y1, amp, Math.max(0.6, (amp / 300) * 1.6));
			if (depthLeft > 0) {
				const k = rng.int(1, 2);
				for (let i = 0; i < k; i++) grow(x1, y1, ang + rng.uniform(-0.5, 0.5), len * rng.uniform(0.6, 0.85), amp * 0.65, depthLeft - 1);
			}
		};
		for (let i = 0; i < branches; i++) {
			// fan out towards the lateral side (side -1 is image-left)
			const base = l.side > 0 ? 0 : Math.PI;
			const ang = base + l.side * rng.uniform(-1.5, 1.5);
			grow(hx, hy, ang, l.w * rng.uniform(0.3, 0.5), rng.uniform(180, 320), 3);
		}
	}

	// Ribs: posterior arcs across each hemithorax.
	const ribCount = rng.int(8, 10);
	const ribTop = lungCy - lungH * 1.05;
	const ribStep = (lungH * 2.1) / ribCount;
	const ribWidth = ribStep * rng.uniform(0.35, 0.5);
	const ribAmp = rng.uniform(150, 300);
	const ribCurve = rng.uniform(0.6, 1.1);

	let minX = n;
	let minY = n;
	let maxX = -1;
	let maxY = -1;
	for (let y = 0; y < n; y++) {
		for (let x = 0; x < n; x++) {
			const i = y * n + x;
			const tdx = (x + 0.5 - tcx) / ta;
			const tdy = (y + 0.5 - tcy) / tb;
			const torso = inside((Math.sqrt(tdx * tdx + tdy * tdy) - 1) * Math.min(ta, tb));
			let v = air * (1 - torso) + soft * torso;
			// a soft-tissue gradient: denser centrally (spine, mediastinum)
			v += torso * 500 * Math.exp(-(((x + 0.5 - tcx) / (n * 0.07)) ** 2));
			for (const l of lungs) {
				const rho = lungRho(l, x + 0.5, y + 0.5);
				const inLung = inside((rho - 1) * Math.min(l.w, l.h));
				if (inLung <= 0) continue;
				const collapse = collapseAt(l, x + 0.5, y + 0.5);
				const visceral = 1 - collapse;
				const inCollapsed = collapse > 0 ? inside((rho - visceral) * Math.min(l.w, l.h)) : 1;
				const lungValue = lungHu + markings[i] * inCollapsed + 60 * (rho - 0.5);
				const emptySpace = lungHu * ptxDrop;
				let val = inCollapsed * lungValue + (1 - inCollapsed) * emptySpace;
				if (collapse > 0) {
					// visceral pleural line: a thin bright line at the edge of the collapsed lung
					const dLine = (rho - visceral) * Math.min(l.w, l.h);
					val += 220 * Math.exp(-(dLine * dLine) / 0.5);
					if (inCollapsed < 0.5) {
						if (x < minX) minX = x;
						if (y < minY) minY = y;
						if (x > maxX) maxX = x;
						if (y > maxY) maxY = y;
					}
				}
				v = v * (1 - inLung) + val * inLung;
			}
			// heart over the medial left lung
			const hdx = (x + 0.5 - heart.cx) / heart.a;
			const hdy = (y + 0.5 - heart.cy) / heart.b;
			const inHeart = inside((Math.sqrt(hdx * hdx + hdy * hdy) - 1) * heart.b);
			v = v * (1 - inHeart) + (soft + 200) * inHeart;
			// ribs (add density wherever they cross the thorax)
			const rx = Math.abs(x + 0.5 - tcx) / (ta * 0.9);
			if (rx < 1) {
				const yr = y + 0.5 - ribTop - ribCurve * ribStep * 1.5 * rx * rx;
				const phase = yr / ribStep;
				if (phase > 0 && phase < ribCount) {
					const f = phase - Math.floor(phase);
					v += torso * ribAmp * Math.exp(-(((f - 0.5) * ribStep) ** 2) / (2 * (ribWidth / 2.5) ** 2));
				}
			}
			img[i] = v * gain + noise * rng.normal();
		}
	}
	const pixels = new Uint16Array(n * n);
	for (let i = 0; i < img.length; i++) {
		const stored = Math.min(4095, Math.max(0, Math.round(img[i])));
		pixels[i] = photometric === Photometric.monochrome1 ? 4095 - stored : stored;
	}
	const positive = present && maxX >= 0;
	return {
		modality: 'DX',
		bodyPart: 'CHEST',
		rows: n,
		columns: n,
		pixels,
		bitsAllocated: 16,
		bitsStored: 12,
		pixelRepresentation: 0,
		rescaleSlope: 1,
		rescaleIntercept: 0,
		photometricInterpretation: photometric,
		pixelSpacing: [430 / n, 430 / n],
		windowCenter: 2048,
		windowWidth: 4096,
		label: positive
			? { positive: true, finding: Finding.pneumothorax, region: { x: minX, y: minY, width: maxX - minX + 1, height: maxY - minY + 1 } }
			: { positive: false, finding: Finding.none }
	};
}
