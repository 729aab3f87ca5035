// Imported first by the scripts people run (demo, sandbox, chaos). The AWS SDK warns once per
// process, in a nine-line block, that its releases after January 2027 need Node 22; the lockfile
// pins the SDK, so on the project's Node 20 the warning is noise in a newcomer's output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
export {};
