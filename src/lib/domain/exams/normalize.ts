/**
 * Exam normalization: turns what a modality or RIS calls a procedure
 * ("CT ABD/PEL W CNTRST", "MRI L-SPINE W/O") into a catalog exam.
 *
 * Order of evidence, strongest first:
 *   1. a procedure code that names a catalog exam (Radflow code, LOINC, RadLex RPID);
 *   2. an administrator's mapping for this modality + normalized description;
 *   3. an exact match of the normalized description with an exam name or synonym;
 *   4. a fuzzy match (soft token-set Dice + character trigrams) above a threshold,
 *      and clearly ahead of the runner-up.
 * Anything else is method 'none': the caller puts it on the review list, keyed
 * by `normalizeDescriptionKey()`, where an administrator creates a mapping.
 *
 * Pure: no I/O, no clock.
 */
import { toNormalizedExam, type CatalogExam, type ExamCatalog } from './catalog';
import type { Modality, NormalizedExam } from '../study/model';

/** How an exam was identified. */
export const MatchMethod = {
	code: 'code',
	mapping: 'mapping',
	exact: 'exact',
	fuzzy: 'fuzzy',
	none: 'none'
} as const;
export type MatchMethod = (typeof MatchMethod)[keyof typeof MatchMethod];

/** What an ingest path knows about the procedure. */
export interface ExamQuery {
	modality: Modality | null | undefined;
	/** Study or requested procedure description (DICOM 0008,1030 / HL7 OBR-4 text). */
	description: string | null | undefined;
	/** DICOM Body Part Examined (0018,0015), e.g. "CHEST", "LSPINE". */
	bodyPart?: string | null;
	/** Procedure code value (DICOM 0008,1032 / HL7 OBR-4 identifier). */
	procedureCode?: string | null;
}

/** An administrator's mapping, made from the review list. */
export interface ExamMapping {
	modality: Modality;
	/** `normalizeDescriptionKey(description)` of the text it maps. */
	descriptionNormalized: string;
	examCode: string;
}

export interface ExamCandidate {
	examCode: string;
	examName: string;
	score: number;
}

export interface ExamMatch {
	exam: NormalizedExam | null;
	method: MatchMethod;
	/** 1 for code/mapping/exact; the similarity for fuzzy; best similarity seen for none. */
	score: number;
	/** Best fuzzy candidates, best first (at most 5), for the review UI. */
	candidates: ExamCandidate[];
}

/** Similarity a fuzzy match must reach. Tuned on the tests' realistic descriptions. */
export const FUZZY_THRESHOLD = 0.74;
/** Below this score, the best candidate must lead the runner-up by `FUZZY_MARGIN`. */
const CONFIDENT_SCORE = 0.9;
const FUZZY_MARGIN = 0.04;

const CONTRAST = new Set(['W', 'WO', 'WWO']);

// Phrase-level rewrites that need the raw punctuation ("W/O", "A/P").
const PHRASES: Array<[RegExp, string]> = [
	[/\bW\s*\/\s*O\b/g, ' WO '],
	[/\bWITH\s+AND\s+WITHOUT\b|\bWITHOUT\s+AND\s+WITH\b/g, ' WWO '],
	[/\bWITHOUT\b/g, ' WO '],
	[/\bWITH\b/g, ' W '],
	[/\bNON[\s-]?(?:CON|CONT|CNTRST|CONTRAST|CONTRASTED|ENHANCED)\b/g, ' WO '],
	[/\bW\s*[/&+-]?\s*(?:AND\s*)?WO\b/g, ' WWO '],
	[/\bWO\s*[/&+-]?\s*(?:AND\s*)?W\b/g, ' WWO '],
	[/\bA\s*\/\s*P\b|\bABD\s*\/?\s*PEL(?:V|VIS)?\b|\bABDPEL(?:V|VIS)?\b/g, ' ABDOMEN PELVIS '],
	[/\bX[\s-]?RAY\b/g, ' XR '],
	[/\bPA\s*(?:\/|AND|&)?\s*LAT(?:ERAL)?\b/g, ' 2V '],
	[/\b(\d)\s*(?:V|VW|VWS|VIEW|VIEWS)\b/g, ' $1V '],
	[/\b(?:SINGLE|ONE)\s+VIEW\b/g, ' 1V '],
	[/\bTWO\s+VIEWS?\b/g, ' 2V '],
	[/\bTHREE\s+VIEWS?\b/g, ' 3V ']
];

// Token rewrites; '' drops the token.
const TOKENS: Record<string, string> = {
	// contrast words carry no information once W/WO/WWO are extracted
	CONTRAST: '', CNTRST: '', CONT: '', CON: '', CNTR: '', IV: '', IVC: '', ENHANCED: '',
	NONCON: 'WO', NONCONTRAST: 'WO', NC: 'WO', NCCT: 'WO', WC: 'W', WWOC: 'WWO', WOC: 'WO',
	// modalities: the modality field decides, so the words themselves are noise
	CT: '', MR: '', MRI: '', XR: '', CR: '', DX: '', RAD: '', US: '', ULTRASOUND: '', SONO: '',
	SONOGRAM: '', SONOGRAPHY: '', MAMMO: 'MAMMOGRAM', MAMMOGRAPHY: 'MAMMOGRAM', MG: '', NM: '',
	CTA: 'ANGIO', MRA: 'ANGIO', ANGIOGRAPHY: 'ANGIO', ANGIOGRAM: 'ANGIO',
	// body regions
	HD: 'HEAD', BRN: 'BRAIN', CHST: 'CHEST', THORAX: 'CHEST', THOR: 'CHEST', THORACIC: 'THORACIC',
	ABD: 'ABDOMEN', ABDOM: 'ABDOMEN', ABDO: 'ABDOMEN', PEL: 'PELVIS', PELV: 'PELVIS', NCK: 'NECK',
	EXT: 'EXTREMITY', EXTREM: 'EXTREMITY', LWR: 'LOWER', UPR: 'UPPER', SHLDR: 'SHOULDER', SHLD: 'SHOULDER',
	KIDNEYS: 'KIDNEY', RENAL: 'RENAL', GB: 'GALLBLADDER', SOFT: 'SOFT', TISSUE: 'TISSUE',
	CSPINE: 'CSPINE', TSPINE: 'TSPINE', LSPINE: 'LSPINE', CSP: 'CSPINE', TSP: 'TSPINE', LSP: 'LSPINE',
	// laterality: the catalog is laterality-agnostic except for bilateral exams
	LT: '', LEFT: '', RT: '', RIGHT: '', L: '', R: '', BILAT: 'BILATERAL', BIL: 'BILATERAL', BL: 'BILATERAL',
	BILATERAL: 'BILATERAL', UNILAT: 'UNILATERAL',
	// qualifiers
	LTD: 'LIMITED', LIM: 'LIMITED', COMP: 'COMPLETE', CMPL: 'COMPLETE', PORT: 'PORTABLE', SCRN: 'SCREENING',
	SCREEN: 'SCREENING', DIAG: 'DIAGNOSTIC', TOMO: 'TOMOSYNTHESIS', DBT: 'TOMOSYNTHESIS',
	// filler
	AND: '', OF: '', THE: '', EXAM: '', STUDY: '', ROUTINE: '', PROTOCOL: '', PROT: '', ONLY: '', TO: '',
	FOR: '', IMAGING: ''
};

const SPINE_PREFIX: Record<string, string> = {
	C: 'CSPINE', CERV: 'CSPINE', CERVICAL: 'CSPINE',
	T: 'TSPINE', THORACIC: 'TSPINE', TH: 'TSPINE',
	L: 'LSPINE', LUMBAR: 'LSPINE', LS: 'LSPINE', LUMBOSACRAL: 'LSPINE'
};

function singular(t: string): string {
	if (t.length <= 3 || /\d/.test(t)) return t;
	if (t.endsWith('IES')) return t.slice(0, -3) + 'Y';
	if (t.endsWith('SES')) return t.slice(0, -2);
	if (t.endsWith('S') && !/(SS|US|IS)$/.test(t)) return t.slice(0, -1);
	return t;
}

/**
 * Canonical tokens of a procedure description, in order, deduplicated.
 * Contrast phrases become W / WO / WWO; abbreviations are expanded; modality
 * words, laterality and filler are dropped.
 */
export function descriptionTokens(description: string | null | undefined): string[] {
	let s = ` ${(description ?? '').toUpperCase()} `;
	for (const [re, to] of PHRASES) s = s.replace(re, to);
	const raw = s.split(/[^A-Z0-9]+/).filter(Boolean);
	const out: string[] = [];
	for (let i = 0; i < raw.length; i++) {
		const t = raw[i];
		// "C SPINE", "L-SPINE", "LUMBAR SPINE" → one token
		if (raw[i + 1] === 'SPINE' && SPINE_PREFIX[t]) {
			out.push(SPINE_PREFIX[t]);
			i++;
			continue;
		}
		// "SPINE LUMBAR" (RIS order) → LSPINE
		const after = raw[i + 1];
		if (t === 'SPINE' && after && after.length > 2 && SPINE_PREFIX[after]) {
			out.push(SPINE_PREFIX[after]);
			i++;
			continue;
		}
		const mapped = t in TOKENS ? TOKENS[t] : singular(t);
		if (mapped) out.push(...mapped.split(' '));
	}
	return [...new Set(out)];
}

/**
 * The key of a description on the review list and in admin mappings:
 * canonical tokens, sorted, so "CT PELVIS/ABD W" and "CT ABD PELVIS WITH CONTRAST"
 * share one review row.
 */
export function normalizeDescriptionKey(description: string | null | undefined): string {
	return [...descriptionTokens(description)].sort().join(' ');
}

/** Radiography appears as CR or DX; the catalog files it under DX. */
function modalityFamily(m: string): string {
	const u = m.toUpperCase();
	return u === 'CR' || u === 'DX' || u === 'XR' ? 'DX' : u;
}

/** Modalities whose exams a series of modality `m` may belong to (a PET/CT's CT series). */
function compatibleModalities(m: string): Set<string> {
	const f = modalityFamily(m);
	switch (f) {
		case 'CT':
			return new Set(['CT', 'PT']);
		case 'PT':
			return new Set(['PT', 'NM']);
		case 'NM':
			return new Set(['NM', 'PT']);
		default:
			return new Set([f]);
	}
}

function trigrams(s: string): Map<string, number> {
	const padded = `  ${s} `;
	const grams = new Map<string, number>();
	for (let i = 0; i + 3 <= padded.length; i++) {
		const g = padded.slice(i, i + 3);
		grams.set(g, (grams.get(g) ?? 0) + 1);
	}
	return grams;
}

/** Dice coefficient on character trigrams, in [0, 1]. */
export function trigramSimilarity(a: string, b: string): number {
	if (a === b) return 1;
	const ga = trigrams(a);
	const gb = trigrams(b);
	let inter = 0;
	let na = 0;
	let nb = 0;
	for (const n of ga.values()) na += n;
	for (const [g, n] of gb) {
		nb += n;
		inter += Math.min(n, ga.get(g) ?? 0);
	}
	return na + nb === 0 ? 0 : (2 * inter) / (na + nb);
}

function tokenSimilarity(a: string, b: string): number {
	if (a === b) return 1;
	// Contrast markers and short tokens must match exactly: "W" is not "WO".
	if (CONTRAST.has(a) || CONTRAST.has(b) || a.length < 4 || b.length < 4) return 0;
	const s = trigramSimilarity(a, b);
	return s >= 0.55 ? s : 0;
}

/** Soft token-set Dice: each query token pairs with its most similar unused candidate token. */
function softDice(q: string[], c: string[]): number {
	if (q.length === 0 || c.length === 0) return 0;
	const used = new Set<number>();
	let inter = 0;
	for (const qt of q) {
		let best = 0;
		let bestJ = -1;
		c.forEach((ct, j) => {
			if (used.has(j)) return;
			const s = tokenSimilarity(qt, ct);
			if (s > best) {
				best = s;
				bestJ = j;
			}
		});
		if (bestJ >= 0) {
			used.add(bestJ);
			inter += best;
		}
	}
	return (2 * inter) / (q.length + c.length);
}

function contrastOf(tokens: string[]): string | null {
	return tokens.find((t) => CONTRAST.has(t)) ?? null;
}

/** Similarity of a query token list to one phrase's token list, in [0, 1]. */
function phraseScore(q: string[], c: string[]): number {
	let s = 0.75 * softDice(q, c) + 0.25 * trigramSimilarity(q.join(' '), c.join(' '));
	const qc = contrastOf(q);
	const cc = contrastOf(c);
	// A stated contrast phase that disagrees is a different exam, however close the words.
	if (qc && cc && qc !== cc) s *= 0.7;
	return s;
}

interface IndexedExam {
	entry: CatalogExam;
	phrases: string[][];
	keys: Set<string>;
	region: Set<string>;
}

const indexCache = new WeakMap<ExamCatalog, IndexedExam[]>();

function indexCatalog(catalog: ExamCatalog): IndexedExam[] {
	let idx = indexCache.get(catalog);
	if (!idx) {
		idx = catalog.map((entry) => {
			const phrases = [entry.examName, ...entry.synonyms].map(descriptionTokens).filter((p) => p.length);
			return {
				entry,
				phrases,
				keys: new Set(phrases.map((p) => [...p].sort().join(' '))),
				region: new Set(descriptionTokens(entry.bodyRegion))
			};
		});
		indexCache.set(catalog, idx);
	}
	return idx;
}

function found(entry: CatalogExam, method: MatchMethod, score: number, candidates: ExamCandidate[]): ExamMatch {
	return { exam: toNormalizedExam(entry), method, score, candidates };
}

/**
 * Normalizes a procedure to a catalog exam.
 *
 * @param query what the DICOM object or HL7 order says
 * @param catalog the exam catalog (usually `EXAM_CATALOG` plus site additions)
 * @param mappings administrator mappings, applied before any free-text matching
 * @returns the exam, how it was found, and ranked candidates; `exam: null` with
 *   method 'none' means "put it on the review list".
 */
export function normalizeExam(
	query: ExamQuery,
	catalog: ExamCatalog,
	mappings: readonly ExamMapping[] = []
): ExamMatch {
	const idx = indexCatalog(catalog);
	const byCode = (code: string) => {
		const c = code.trim().toUpperCase();
		return idx.find(
			(e) =>
				e.entry.examCode.toUpperCase() === c ||
				e.entry.loinc?.toUpperCase() === c ||
				e.entry.radlexId?.toUpperCase() === c
		)?.entry;
	};

	if (query.procedureCode) {
		const hit = byCode(query.procedureCode);
		if (hit) return found(hit, MatchMethod.code, 1, []);
	}

	const modality = query.modality ? String(query.modality) : '';
	const allowed = modality ? compatibleModalities(modality) : null;
	const pool = allowed ? idx.filter((e) => allowed.has(modalityFamily(e.entry.modality))) : idx;

	let tokens = descriptionTokens(query.description);
	const bodyTokens = descriptionTokens(query.bodyPart);
	// No usable description: the body part alone is still evidence (CR "CHEST").
	if (tokens.length === 0) tokens = bodyTokens;
	const key = [...tokens].sort().join(' ');

	if (key) {
		const fam = modality ? modalityFamily(modality) : '';
		const mapped = mappings.find(
			(m) => m.descriptionNormalized === key && (!fam || modalityFamily(String(m.modality)) === fam)
		);
		const hit = mapped && byCode(mapped.examCode);
		if (hit) return found(hit, MatchMethod.mapping, 1, []);
	}

	if (tokens.length === 0) return { exam: null, method: MatchMethod.none, score: 0, candidates: [] };

	// Exact: same modality family first, so "CT HEAD" never lands on a PET exam.
	const fam = modality ? modalityFamily(modality) : '';
	const exact =
		pool.find((e) => modalityFamily(e.entry.modality) === fam && e.keys.has(key)) ??
		pool.find((e) => e.keys.has(key));
	if (exact) return found(exact.entry, MatchMethod.exact, 1, []);

	const scored = pool
		.map((e) => {
			let s = Math.max(...e.phrases.map((p) => phraseScore(tokens, p)));
			if (bodyTokens.some((t) => e.region.has(t))) s = Math.min(1, s + 0.03);
			if (fam && modalityFamily(e.entry.modality) !== fam) s *= 0.9;
			return { entry: e.entry, score: Math.round(s * 1000) / 1000 };
		})
		.sort((a, b) => b.score - a.score);

	const candidates = scored
		.slice(0, 5)
		.filter((c) => c.score > 0)
		.map((c) => ({ examCode: c.entry.examCode, examName: c.entry.examName, score: c.score }));
	const [best, second] = scored;
	if (!best) return { exam: null, method: MatchMethod.none, score: 0, candidates };
	const clear = best.score >= CONFIDENT_SCORE || !second || best.score - second.score >= FUZZY_MARGIN;
	if (best.score >= FUZZY_THRESHOLD && clear) return found(best.entry, MatchMethod.fuzzy, best.score, candidates);
	return { exam: null, method: MatchMethod.none, score: best.score, candidates };
}
