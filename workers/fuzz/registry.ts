/**
 * The fuzz targets by name. Imported lazily so a worker loads only the code it fuzzes
 * (and, with coverage on, only after the block counters are running).
 */
import { TargetName, type FuzzTarget } from './target';

export async function createTarget(name: TargetName): Promise<FuzzTarget> {
	switch (name) {
		case TargetName.dicomDataset:
			return (await import('./dicom-dataset')).createDicomDatasetTarget();
		case TargetName.dicomPdu:
			return (await import('./dicom-pdu')).createDicomPduTarget();
		case TargetName.hl7Parser:
			return (await import('./hl7-parser')).createHl7ParserTarget();
		case TargetName.hl7Listener:
			return (await import('./hl7-listener')).createHl7ListenerTarget();
		default:
			return name satisfies never;
	}
}
