// Minimal ambient typing for dcmjs (the package ships none). Only what workers/dicom uses.
declare module 'dcmjs' {
	const dcmjs: {
		data: {
			DicomDict: new (meta: unknown) => { dict: unknown; write(options?: unknown): ArrayBuffer };
			DicomMetaDictionary: {
				denaturalizeDataset(ds: unknown): Record<string, unknown>;
				naturalizeDataset(ds: unknown): Record<string, unknown>;
			};
			DicomMessage: {
				_read(stream: unknown, syntax: string, options: Record<string, unknown>): Record<string, unknown>;
				readFile(buffer: ArrayBuffer, options?: Record<string, unknown>): { meta: Record<string, unknown>; dict: Record<string, unknown> };
			};
			ReadBufferStream: new (buffer: ArrayBuffer, littleEndian?: boolean, options?: Record<string, unknown>) => unknown;
		};
		log: { setLevel(level: string): void };
	};
	export default dcmjs;
}
