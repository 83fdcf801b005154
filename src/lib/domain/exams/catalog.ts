/**
 * The curated exam catalog: the procedures a department reads most, each with
 * a stable Radflow exam code, a reading subspecialty, an approximate work RVU
 * and the minutes a radiologist typically spends reading it.
 *
 * Standard codes are filled in only where we are confident of them; a null is
 * better than a plausible-looking wrong code. RVUs approximate the CMS work RVU
 * of the usual CPT code for the exam (professional component); they are used
 * for load balancing, not billing.
 *
 * Pure data: no I/O.
 *
 * @see https://playbook.radlex.org/ RadLex Playbook (RPID)
 * @see https://loinc.org/kb/users-guide/radiology/ LOINC/RSNA radiology playbook
 */
import { Subspecialty, type Modality, type NormalizedExam } from '../study/model';

/** One catalog entry: the normalized exam plus the codes and words that identify it. */
export interface CatalogExam extends NormalizedExam {
	/** RadLex Playbook id (e.g. "RPID16"), null where not confidently known. */
	radlexId: string | null;
	/** LOINC code for the procedure, null where not confidently known. */
	loinc: string | null;
	/** Other names departments use for this exam (free text, normalized at match time). */
	synonyms: readonly string[];
}

/** A catalog is a plain list; `indexCatalog` builds lookup maps from it. */
export type ExamCatalog = readonly CatalogExam[];

const S = Subspecialty;

// Compact row: code, name, modality, body region, subspecialty, wRVU, minutes, synonyms, loinc.
type Row = [
	string,
	string,
	Modality,
	string,
	Subspecialty,
	number,
	number,
	string[],
	(string | null)?
];

const ROWS: Row[] = [
	// CT: neuro
	['CT-HEAD-WO', 'CT Head without contrast', 'CT', 'head', S.neuro, 0.85, 6, ['CT HEAD', 'CT BRAIN WO', 'CT HEAD NONCON', 'NCCT HEAD', 'CT HEAD STROKE'], '30799-1'],
	['CT-HEAD-W', 'CT Head with contrast', 'CT', 'head', S.neuro, 1.13, 8, ['CT BRAIN W', 'CT HEAD W IV']],
	['CT-HEAD-WWO', 'CT Head without and with contrast', 'CT', 'head', S.neuro, 1.27, 10, ['CT BRAIN WWO']],
	['CTA-HEAD', 'CT Angiography Head', 'CT', 'head', S.neuro, 1.75, 15, ['CTA BRAIN', 'CTA HEAD W WO', 'CT ANGIO HEAD', 'CTA COW']],
	['CTA-HEAD-NECK', 'CT Angiography Head and Neck', 'CT', 'head and neck', S.neuro, 3.5, 25, ['CTA HEAD AND NECK', 'CTA STROKE', 'CT ANGIO HEAD NECK']],
	['CTA-NECK', 'CT Angiography Neck', 'CT', 'neck', S.neuro, 1.75, 15, ['CTA CAROTIDS', 'CT ANGIO NECK']],
	['CT-NECK-W', 'CT Soft Tissue Neck with contrast', 'CT', 'neck', S.neuro, 1.38, 14, ['CT NECK', 'CT SOFT TISSUE NECK', 'CT NECK SOFT TISSUE W']],
	['CT-SINUS-WO', 'CT Sinuses without contrast', 'CT', 'sinus', S.neuro, 0.85, 6, ['CT SINUS', 'CT PARANASAL SINUSES', 'CT MAXILLOFACIAL WO']],
	['CT-ORBITS-WO', 'CT Orbits without contrast', 'CT', 'orbit', S.neuro, 1.28, 9, ['CT ORBIT', 'CT ORBITS']],
	['CT-TEMPORAL-WO', 'CT Temporal Bones without contrast', 'CT', 'temporal bone', S.neuro, 1.28, 12, ['CT IAC', 'CT TEMPORAL BONE']],
	['CT-FACE-WO', 'CT Facial Bones without contrast', 'CT', 'face', S.neuro, 0.85, 8, ['CT FACE', 'CT FACIAL BONES', 'CT MAXILLOFACIAL']],
	['CT-CSPINE-WO', 'CT Cervical Spine without contrast', 'CT', 'cervical spine', S.neuro, 1.07, 8, ['CT C SPINE', 'CT CERVICAL SPINE', 'CT NECK SPINE']],
	['CT-TSPINE-WO', 'CT Thoracic Spine without contrast', 'CT', 'thoracic spine', S.neuro, 1.0, 8, ['CT T SPINE', 'CT THORACIC SPINE']],
	['CT-LSPINE-WO', 'CT Lumbar Spine without contrast', 'CT', 'lumbar spine', S.neuro, 1.0, 8, ['CT L SPINE', 'CT LUMBAR SPINE', 'CT LS SPINE']],
	// CT: chest / cardiac
	['CT-CHEST-WO', 'CT Chest without contrast', 'CT', 'chest', S.chest, 1.16, 10, ['CT CHEST', 'CT THORAX WO', 'CT CHEST NONCON'], '24627-2'],
	['CT-CHEST-W', 'CT Chest with contrast', 'CT', 'chest', S.chest, 1.24, 12, ['CT THORAX W', 'CT CHEST W IV']],
	['CT-CHEST-WWO', 'CT Chest without and with contrast', 'CT', 'chest', S.chest, 1.38, 14, ['CT THORAX WWO']],
	['CTA-CHEST-PE', 'CT Angiography Chest (pulmonary embolism)', 'CT', 'chest', S.chest, 1.82, 14, ['CTA CHEST', 'CT PE PROTOCOL', 'CTPA', 'CTA PULMONARY', 'CT ANGIO CHEST PE']],
	['CT-CHEST-LDCT', 'CT Chest low dose lung cancer screening', 'CT', 'chest', S.chest, 1.16, 8, ['LDCT', 'LOW DOSE CT CHEST', 'CT LUNG SCREENING', 'CT LUNG CANCER SCREENING']],
	['CT-CHEST-HR', 'CT Chest high resolution', 'CT', 'chest', S.chest, 1.16, 14, ['HRCT', 'HRCT CHEST', 'CT CHEST HIGH RESOLUTION ILD']],
	['CT-CARDIAC-CAS', 'CT Heart calcium scoring', 'CT', 'heart', S.chest, 0.58, 5, ['CALCIUM SCORE', 'CT CALCIUM SCORING', 'CT CORONARY CALCIUM']],
	['CTA-CORONARY', 'CT Angiography Coronary arteries', 'CT', 'heart', S.chest, 2.4, 30, ['CCTA', 'CTA CORONARY', 'CTA HEART', 'CT CORONARY ANGIO']],
	['CTA-AORTA-CHEST', 'CT Angiography Thoracic aorta', 'CT', 'chest', S.chest, 1.82, 15, ['CTA AORTA', 'CTA THORACIC AORTA', 'CTA DISSECTION']],
	// CT: body
	['CT-ABDPEL-WO', 'CT Abdomen and Pelvis without contrast', 'CT', 'abdomen and pelvis', S.body, 1.74, 14, ['CT AP WO', 'CT RENAL STONE', 'CT STONE PROTOCOL', 'CT KUB']],
	['CT-ABDPEL-W', 'CT Abdomen and Pelvis with contrast', 'CT', 'abdomen and pelvis', S.body, 1.82, 16, ['CT ABDOMEN PELVIS', 'CT AP W', 'CT ABD PELVIS W IV']],
	['CT-ABDPEL-WWO', 'CT Abdomen and Pelvis without and with contrast', 'CT', 'abdomen and pelvis', S.body, 2.01, 20, ['CT AP WWO', 'CT ABD PEL MULTIPHASE']],
	['CT-UROGRAM', 'CT Urogram', 'CT', 'abdomen and pelvis', S.body, 2.01, 20, ['CTU', 'CT UROGRAPHY', 'CT HEMATURIA']],
	['CT-ABD-W', 'CT Abdomen with contrast', 'CT', 'abdomen', S.body, 1.27, 12, ['CT ABDOMEN', 'CT ABD W']],
	['CT-ABD-WWO', 'CT Abdomen without and with contrast (liver/pancreas)', 'CT', 'abdomen', S.body, 1.4, 16, ['CT LIVER MULTIPHASE', 'CT PANCREAS PROTOCOL', 'CT ADRENAL PROTOCOL']],
	['CTA-ABDPEL', 'CT Angiography Abdomen and Pelvis', 'CT', 'abdomen and pelvis', S.body, 2.2, 20, ['CTA AP', 'CTA ABDOMEN PELVIS', 'CTA MESENTERIC']],
	['CTA-RUNOFF', 'CT Angiography Aorta and lower extremity runoff', 'CT', 'abdomen and lower extremity', S.body, 2.8, 28, ['CTA RUNOFF', 'CTA LOWER EXTREMITY RUNOFF']],
	['CT-ENTEROGRAPHY', 'CT Enterography', 'CT', 'abdomen and pelvis', S.body, 1.82, 20, ['CTE', 'CT ENTERO']],
	// CT: msk
	['CT-EXT-UPPER-WO', 'CT Upper Extremity without contrast', 'CT', 'upper extremity', S.msk, 1.0, 10, ['CT SHOULDER', 'CT ELBOW', 'CT WRIST', 'CT HAND', 'CT HUMERUS']],
	['CT-EXT-LOWER-WO', 'CT Lower Extremity without contrast', 'CT', 'lower extremity', S.msk, 1.0, 10, ['CT KNEE', 'CT ANKLE', 'CT FOOT', 'CT TIBIA', 'CT FEMUR', 'CT HIP']],
	['CT-PELVIS-BONE-WO', 'CT Pelvis without contrast (bony)', 'CT', 'pelvis', S.msk, 1.0, 10, ['CT BONY PELVIS', 'CT PELVIS WO', 'CT ACETABULUM']],
	// MR: neuro
	['MR-BRAIN-WO', 'MR Brain without contrast', 'MR', 'brain', S.neuro, 1.48, 15, ['MRI BRAIN', 'MR HEAD WO', 'MRI HEAD', 'MR BRAIN STROKE']],
	['MR-BRAIN-WWO', 'MR Brain without and with contrast', 'MR', 'brain', S.neuro, 2.29, 22, ['MRI BRAIN WWO', 'MR HEAD WWO', 'MR BRAIN TUMOR', 'MR BRAIN MS PROTOCOL']],
	['MRA-HEAD', 'MR Angiography Head', 'MR', 'head', S.neuro, 1.2, 12, ['MRA BRAIN', 'MRA COW', 'MR ANGIO HEAD']],
	['MRA-NECK', 'MR Angiography Neck', 'MR', 'neck', S.neuro, 1.2, 12, ['MRA CAROTIDS', 'MR ANGIO NECK']],
	['MR-IAC-WWO', 'MR Internal auditory canals without and with contrast', 'MR', 'brain', S.neuro, 2.29, 18, ['MR IAC', 'MRI IAC', 'MR PITUITARY', 'MR SELLA']],
	['MR-CSPINE-WO', 'MR Cervical Spine without contrast', 'MR', 'cervical spine', S.neuro, 1.48, 15, ['MRI C SPINE', 'MR CERVICAL SPINE', 'MRI CERVICAL']],
	['MR-TSPINE-WO', 'MR Thoracic Spine without contrast', 'MR', 'thoracic spine', S.neuro, 1.48, 15, ['MRI T SPINE', 'MR THORACIC SPINE']],
	['MR-LSPINE-WO', 'MR Lumbar Spine without contrast', 'MR', 'lumbar spine', S.neuro, 1.48, 15, ['MRI L SPINE', 'MR LUMBAR SPINE', 'MRI LUMBAR', 'MR LS SPINE']],
	['MR-LSPINE-WWO', 'MR Lumbar Spine without and with contrast', 'MR', 'lumbar spine', S.neuro, 2.29, 20, ['MRI L SPINE WWO', 'MR LUMBAR SPINE POSTOP']],
	// MR: msk
	['MR-KNEE-WO', 'MR Knee without contrast', 'MR', 'knee', S.msk, 1.35, 15, ['MRI KNEE', 'MR KNEE']],
	['MR-SHOULDER-WO', 'MR Shoulder without contrast', 'MR', 'shoulder', S.msk, 1.35, 15, ['MRI SHOULDER', 'MR SHOULDER']],
	['MR-HIP-WO', 'MR Hip without contrast', 'MR', 'hip', S.msk, 1.35, 15, ['MRI HIP', 'MR HIP', 'MR PELVIS BONY']],
	['MR-ANKLE-WO', 'MR Ankle without contrast', 'MR', 'ankle', S.msk, 1.35, 15, ['MRI ANKLE', 'MR ANKLE', 'MR FOOT']],
	['MR-WRIST-WO', 'MR Wrist without contrast', 'MR', 'wrist', S.msk, 1.35, 15, ['MRI WRIST', 'MR WRIST', 'MR HAND']],
	['MR-ELBOW-WO', 'MR Elbow without contrast', 'MR', 'elbow', S.msk, 1.35, 15, ['MRI ELBOW', 'MR ELBOW']],
	// MR: body / breast / cardiac
	['MR-ABD-WWO', 'MR Abdomen without and with contrast', 'MR', 'abdomen', S.body, 2.2, 25, ['MRI ABDOMEN', 'MR LIVER', 'MRI LIVER WWO', 'MR PANCREAS']],
	['MRCP', 'MR Cholangiopancreatography', 'MR', 'abdomen', S.body, 1.46, 18, ['MRCP', 'MR CHOLANGIOGRAM']],
	['MR-PELVIS-WWO', 'MR Pelvis without and with contrast', 'MR', 'pelvis', S.body, 2.2, 25, ['MRI PELVIS', 'MR PELVIS FEMALE', 'MR RECTUM']],
	['MR-PROSTATE-WWO', 'MR Prostate multiparametric', 'MR', 'prostate', S.body, 2.2, 25, ['MRI PROSTATE', 'MP MRI PROSTATE', 'MR PROSTATE']],
	['MR-ENTEROGRAPHY', 'MR Enterography', 'MR', 'abdomen and pelvis', S.body, 3.0, 30, ['MRE', 'MR ENTERO']],
	['MR-BREAST-BI-WWO', 'MR Breast bilateral without and with contrast', 'MR', 'breast', S.breast, 2.3, 25, ['MRI BREAST', 'MR BREAST', 'MRI BREASTS BILATERAL']],
	['MR-CARDIAC-WWO', 'MR Heart without and with contrast', 'MR', 'heart', S.chest, 2.6, 35, ['CARDIAC MRI', 'MR CARDIAC', 'CMR']],
	// Radiography (CR / DX)
	['XR-CHEST-1V', 'XR Chest 1 view', 'DX', 'chest', S.chest, 0.18, 2, ['CXR PORTABLE', 'CHEST PORTABLE', 'CHEST AP', 'XR CHEST PORT', 'CHEST 1V']],
	['XR-CHEST-2V', 'XR Chest 2 views', 'DX', 'chest', S.chest, 0.22, 3, ['CXR', 'CHEST PA LAT', 'CHEST PA AND LATERAL', 'CHEST 2V', 'XR CHEST'], '36643-5'],
	['XR-ABD-1V', 'XR Abdomen 1 view', 'DX', 'abdomen', S.body, 0.18, 2, ['KUB', 'XR ABDOMEN', 'ABDOMEN SUPINE']],
	['XR-ABD-SERIES', 'XR Abdomen series (acute abdomen)', 'DX', 'abdomen', S.body, 0.27, 4, ['ACUTE ABDOMEN SERIES', 'ABDOMEN 2V', 'OBSTRUCTION SERIES']],
	['XR-CSPINE', 'XR Cervical Spine', 'DX', 'cervical spine', S.msk, 0.22, 3, ['C SPINE', 'CERVICAL SPINE 3V', 'XR C SPINE']],
	['XR-TSPINE', 'XR Thoracic Spine', 'DX', 'thoracic spine', S.msk, 0.22, 3, ['T SPINE', 'XR T SPINE']],
	['XR-LSPINE', 'XR Lumbar Spine', 'DX', 'lumbar spine', S.msk, 0.22, 3, ['L SPINE', 'LS SPINE', 'XR L SPINE', 'LUMBOSACRAL SPINE']],
	['XR-PELVIS', 'XR Pelvis', 'DX', 'pelvis', S.msk, 0.17, 2, ['PELVIS AP', 'XR PELVIS 1V']],
	['XR-HIP', 'XR Hip', 'DX', 'hip', S.msk, 0.2, 3, ['HIP 2V', 'XR HIP UNILATERAL']],
	['XR-KNEE', 'XR Knee', 'DX', 'knee', S.msk, 0.18, 3, ['KNEE 3V', 'KNEE 2V', 'XR KNEE']],
	['XR-ANKLE', 'XR Ankle', 'DX', 'ankle', S.msk, 0.17, 2, ['ANKLE 3V', 'XR ANKLE']],
	['XR-FOOT', 'XR Foot', 'DX', 'foot', S.msk, 0.17, 2, ['FOOT 3V', 'XR FOOT']],
	['XR-SHOULDER', 'XR Shoulder', 'DX', 'shoulder', S.msk, 0.18, 3, ['SHOULDER 2V', 'XR SHOULDER']],
	['XR-ELBOW', 'XR Elbow', 'DX', 'elbow', S.msk, 0.16, 2, ['ELBOW 3V', 'XR ELBOW']],
	['XR-WRIST', 'XR Wrist', 'DX', 'wrist', S.msk, 0.17, 2, ['WRIST 3V', 'XR WRIST']],
	['XR-HAND', 'XR Hand', 'DX', 'hand', S.msk, 0.17, 2, ['HAND 3V', 'XR HAND']],
	['XR-FEMUR', 'XR Femur', 'DX', 'femur', S.msk, 0.18, 2, ['FEMUR 2V', 'XR FEMUR']],
	['XR-TIBFIB', 'XR Tibia and Fibula', 'DX', 'lower leg', S.msk, 0.17, 2, ['TIB FIB', 'TIBIA FIBULA 2V', 'XR TIB FIB']],
	['XR-RIBS', 'XR Ribs', 'DX', 'ribs', S.chest, 0.27, 3, ['RIBS UNILATERAL', 'XR RIBS']],
	['XR-BONE-SURVEY', 'XR Skeletal survey', 'DX', 'whole body', S.msk, 0.45, 10, ['SKELETAL SURVEY', 'BONE SURVEY', 'METASTATIC SURVEY']],
	// Ultrasound
	['US-ABD-COMPLETE', 'US Abdomen complete', 'US', 'abdomen', S.body, 0.81, 10, ['US ABDOMEN', 'ULTRASOUND ABDOMEN COMPLETE', 'US ABD COMP']],
	['US-ABD-LTD', 'US Abdomen limited (RUQ)', 'US', 'abdomen', S.body, 0.59, 7, ['US RUQ', 'US GALLBLADDER', 'US LIVER', 'US ABDOMEN LIMITED']],
	['US-RENAL', 'US Retroperitoneum (renal)', 'US', 'kidney', S.body, 0.74, 8, ['US KIDNEYS', 'US RENAL', 'RENAL ULTRASOUND', 'US KIDNEY BLADDER']],
	['US-PELVIS-TA', 'US Pelvis transabdominal', 'US', 'pelvis', S.body, 0.69, 8, ['US PELVIS', 'PELVIC ULTRASOUND']],
	['US-PELVIS-TV', 'US Pelvis transvaginal', 'US', 'pelvis', S.body, 0.69, 8, ['US TRANSVAGINAL', 'TVUS', 'US PELVIS ENDOVAGINAL']],
	['US-OB-1ST', 'US Obstetric first trimester', 'US', 'pelvis', S.body, 0.99, 10, ['US OB LESS THAN 14 WEEKS', 'US OB FIRST TRIMESTER', 'US EARLY PREGNANCY']],
	['US-OB-2ND3RD', 'US Obstetric second or third trimester', 'US', 'pelvis', S.body, 0.99, 14, ['US OB', 'US OB GREATER THAN 14 WEEKS', 'US OB ANATOMY']],
	['US-THYROID', 'US Thyroid / soft tissue neck', 'US', 'neck', S.body, 0.56, 8, ['US THYROID', 'US NECK', 'THYROID ULTRASOUND']],
	['US-SCROTUM', 'US Scrotum', 'US', 'scrotum', S.body, 0.64, 8, ['US SCROTAL', 'US TESTICLES', 'US TESTES']],
	['US-APPENDIX', 'US Appendix', 'US', 'abdomen', S.body, 0.59, 8, ['US RLQ', 'US APPENDICITIS']],
	['US-AORTA', 'US Aorta', 'US', 'abdomen', S.body, 0.55, 6, ['US AAA', 'US AORTA SCREENING']],
	['US-CAROTID-DUP', 'US Carotid duplex', 'US', 'neck', S.body, 0.8, 10, ['CAROTID DUPLEX', 'US CAROTIDS', 'CAROTID DOPPLER']],
	['US-VENOUS-LE-BI', 'US Venous duplex lower extremities bilateral', 'US', 'lower extremity', S.body, 0.7, 8, ['US DVT BILATERAL', 'VENOUS DOPPLER LOWER EXTREMITIES', 'US LE VENOUS BILAT']],
	['US-VENOUS-LE-UNI', 'US Venous duplex lower extremity unilateral', 'US', 'lower extremity', S.body, 0.45, 6, ['US DVT', 'US LE VENOUS', 'VENOUS DOPPLER LEG']],
	['US-BREAST', 'US Breast', 'US', 'breast', S.breast, 0.73, 8, ['BREAST ULTRASOUND', 'US BREAST TARGETED']],
	// Mammography
	['MG-SCREEN-BI', 'MG Screening mammogram bilateral', 'MG', 'breast', S.breast, 0.76, 4, ['SCREENING MAMMOGRAM', 'MAMMO SCREENING', 'MG SCREEN BILAT']],
	['MG-SCREEN-TOMO', 'MG Screening mammogram bilateral with tomosynthesis', 'MG', 'breast', S.breast, 1.36, 6, ['SCREENING MAMMOGRAM 3D', 'SCREENING TOMOSYNTHESIS', 'DBT SCREENING', 'MG SCREEN TOMO']],
	['MG-DIAG-BI', 'MG Diagnostic mammogram bilateral', 'MG', 'breast', S.breast, 1.05, 8, ['DIAGNOSTIC MAMMOGRAM', 'MAMMO DIAGNOSTIC BILATERAL']],
	['MG-DIAG-UNI', 'MG Diagnostic mammogram unilateral', 'MG', 'breast', S.breast, 0.81, 7, ['DIAGNOSTIC MAMMOGRAM UNILATERAL', 'MAMMO DIAG UNILAT', 'MG DIAG UNILATERAL']],
	// Nuclear medicine / PET
	['NM-BONE-WB', 'NM Bone scan whole body', 'NM', 'whole body', S.nuclear, 0.86, 10, ['BONE SCAN', 'NM BONE SCAN', 'WHOLE BODY BONE SCAN']],
	['NM-MPI-SPECT', 'NM Myocardial perfusion SPECT', 'NM', 'heart', S.nuclear, 1.62, 15, ['NUCLEAR STRESS TEST', 'MYOCARDIAL PERFUSION', 'SPECT MPI', 'CARDIAC SPECT']],
	['NM-HIDA', 'NM Hepatobiliary scan', 'NM', 'abdomen', S.nuclear, 0.74, 10, ['HIDA', 'HIDA SCAN', 'HEPATOBILIARY SCAN']],
	['NM-VQ', 'NM Lung ventilation and perfusion', 'NM', 'chest', S.nuclear, 1.07, 10, ['VQ SCAN', 'V Q SCAN', 'LUNG VQ']],
	['NM-GASTRIC-EMPTY', 'NM Gastric emptying study', 'NM', 'abdomen', S.nuclear, 0.8, 8, ['GASTRIC EMPTYING']],
	['PT-ONC-SKULL-THIGH', 'PET/CT Skull base to mid-thigh', 'PT', 'whole body', S.nuclear, 2.44, 25, ['PET CT', 'PET CT SKULL BASE TO THIGH', 'FDG PET CT', 'PET CT ONCOLOGY']],
	['PT-ONC-WB', 'PET/CT Whole body', 'PT', 'whole body', S.nuclear, 2.5, 28, ['PET CT WHOLE BODY', 'PET CT VERTEX TO TOES', 'PSMA PET']],
	['PT-BRAIN', 'PET Brain', 'PT', 'brain', S.nuclear, 1.5, 15, ['FDG PET BRAIN', 'PET BRAIN', 'AMYLOID PET']],
	// Fluoroscopy
	['RF-ESOPHAGRAM', 'RF Esophagram', 'RF', 'esophagus', S.body, 0.46, 8, ['ESOPHAGRAM', 'BARIUM SWALLOW']],
	['RF-UGI', 'RF Upper GI series', 'RF', 'abdomen', S.body, 0.69, 10, ['UPPER GI', 'UGI', 'UGI SERIES']]
];

/** The seed catalog shipped with Radflow. Sites extend it through the admin UI. */
export const EXAM_CATALOG: ExamCatalog = ROWS.map(
	([examCode, examName, modality, bodyRegion, subspecialty, rvu, expectedReadMinutes, synonyms, loinc]) => ({
		examCode,
		examName,
		modality,
		bodyRegion,
		subspecialty,
		rvu,
		expectedReadMinutes,
		radlexId: null,
		loinc: loinc ?? null,
		synonyms
	})
);

/** The NormalizedExam projection of a catalog entry (drops codes and synonyms). */
export function toNormalizedExam(entry: CatalogExam): NormalizedExam {
	const { examCode, examName, modality, bodyRegion, subspecialty, rvu, expectedReadMinutes } = entry;
	return { examCode, examName, modality, bodyRegion, subspecialty, rvu, expectedReadMinutes };
}
