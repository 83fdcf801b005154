import type { PageServerLoad } from './$types';
import { getContext } from '$lib/server/context';
import { authorize } from '$lib/server/auth/guard';
import {
	failureReasons,
	ingestRates,
	instancesPerMinute,
	latestEventId,
	liveRoleStatus,
	recentIngestFailures,
	summarizeDicomStatus,
	volumeBySender
} from '$lib/server/queries/ingest';
import { countExamReview } from '$lib/server/queries/exams';

export const load: PageServerLoad = async ({ locals, setHeaders }) => {
	authorize(locals, 'administer');
	setHeaders({ 'cache-control': 'no-store' });
	const { sql } = getContext().db;
	const now = new Date();
	const [roles, rates, perMinute, senders, failures, reasons, unknownExams, lastEventId] = await Promise.all([
		liveRoleStatus(sql, { now }),
		ingestRates(sql, { now }),
		instancesPerMinute(sql, { now, minutes: 60 }),
		volumeBySender(sql, { now, minutes: 60 }),
		recentIngestFailures(sql, { limit: 50 }),
		failureReasons(sql, { now, hours: 24 }),
		countExamReview(sql),
		latestEventId(sql)
	]);
	return {
		now,
		processes: roles.map((r) => ({ role: r.role, instance: r.instance, updatedAt: r.updatedAt })),
		dicom: summarizeDicomStatus(roles.filter((r) => r.role === 'dicom')),
		rates,
		perMinute,
		senders,
		failures,
		reasons,
		unknownExams,
		lastEventId
	};
};
