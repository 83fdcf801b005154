import { fail } from '@sveltejs/kit';
import type { Actions, PageServerLoad } from './$types';
import { getContext } from '$lib/server/context';
import { authorize } from '$lib/server/auth/guard';
import { EXAM_CATALOG } from '$lib/domain/exams/catalog';
import { applyExamMapping, deleteExamMapping, ExamMappingError, examReviewWithCandidates, listExamMappings } from '$lib/server/queries/exams';

export const load: PageServerLoad = async ({ locals }) => {
	authorize(locals, 'administer');
	const { sql } = getContext().db;
	const [review, mappings] = await Promise.all([examReviewWithCandidates(sql, { top: 3 }), listExamMappings(sql)]);
	return {
		review,
		mappings,
		catalog: EXAM_CATALOG.map((e) => ({ examCode: e.examCode, examName: e.examName, modality: e.modality as string }))
	};
};

const field = (f: FormData, name: string) => String(f.get(name) ?? '').trim();

export const actions: Actions = {
	map: async ({ locals, request }) => {
		const user = authorize(locals, 'administer');
		const f = await request.formData();
		const input = { modality: field(f, 'modality'), descriptionKey: field(f, 'descriptionKey'), examCode: field(f, 'examCode') };
		if (!input.examCode) return fail(400, { message: 'Choose a catalog exam.', key: input.descriptionKey });
		try {
			const r = await getContext().db.sql.begin((tx) => applyExamMapping(tx, user, input));
			return { mapped: { ...input, examName: r.examName, studies: r.studyIds.length } };
		} catch (err) {
			if (err instanceof ExamMappingError) return fail(400, { message: err.message, key: input.descriptionKey });
			throw err;
		}
	},
	unmap: async ({ locals, request }) => {
		const user = authorize(locals, 'administer');
		const f = await request.formData();
		const input = { modality: field(f, 'modality'), descriptionKey: field(f, 'descriptionKey') };
		try {
			await getContext().db.sql.begin((tx) => deleteExamMapping(tx, user, input));
			return { unmapped: input };
		} catch (err) {
			if (err instanceof ExamMappingError) return fail(400, { message: err.message, key: input.descriptionKey });
			throw err;
		}
	}
};
