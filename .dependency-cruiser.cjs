// The layers of calserve (README, "Layout"), checked by `npm test`. Front-ends decode and encode;
// the data plane and the fit intake (src/serving) run everything; the math (src/calibration) is
// pure; the store and the models never know who calls them.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    { name: 'no-cycles', severity: 'error', comment: 'no import cycle anywhere in src/', from: { path: '^src/' }, to: { circular: true } },
    {
      name: 'calibration-is-pure',
      severity: 'error',
      comment: 'src/calibration imports nothing outside itself: typed arrays in, plain objects out',
      from: { path: '^src/calibration/' },
      to: { pathNot: '^src/calibration/' },
    },
    {
      name: 'api-is-contracts',
      severity: 'error',
      comment: 'the wire contracts depend only on zod, each other and the math types',
      from: { path: '^src/api/' },
      to: { pathNot: ['^src/api/', '^src/calibration/', 'node_modules/zod'] },
    },
    {
      name: 'core-never-imports-front-ends',
      severity: 'error',
      comment: 'store, models, inputs, serving and calibration never import a front-end',
      from: { path: '^src/(store|models|inputs|serving|calibration|export)/' },
      to: { path: '^src/(http|grpc|cli|plugins|app\\.ts|main\\.ts)' },
    },
    {
      name: 'front-ends-are-apart',
      severity: 'error',
      comment: 'REST and gRPC share what they share through src/serving and src/inputs, not through each other',
      from: { path: '^src/grpc/' },
      to: { path: '^src/http/' },
    },
    {
      name: 'front-ends-use-the-store-interface',
      severity: 'error',
      comment: 'front-ends see the Store interface, never an implementation',
      from: { path: '^src/(http|grpc|cli|serving)/' },
      to: { path: '^src/store/(sqlite|postgres|index)\\.ts$' },
    },
    {
      name: 'cli-is-a-client',
      severity: 'error',
      comment: 'the CLI speaks HTTP to a server: it imports the contracts, not the server (import writes a manifest, openapi renders the document)',
      from: { path: '^src/cli/' },
      to: { path: '^src/(http|grpc|serving|store|models|plugins)/', pathNot: ['^src/http/openapi\\.ts$', '^src/models/manifest\\.ts$'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
}
