/**
 * A compact schema of the GitHub Actions workflow keys this repository uses, so `npm run docs:check`
 * catches a malformed `.github/workflows/*.yml` without network access (the official JSON schema
 * lives on schemastore.org). It follows GitHub's "Workflow syntax for GitHub Actions" reference:
 * unknown keys are errors, so a typo such as `run-on` or `step:` is caught.
 */
import { parse } from 'yaml';
import { z } from 'zod';

const stringMap = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]));
const expression = z.string().regex(/^\$\{\{[\s\S]*\}\}$/, 'a ${{ … }} expression');

const stepSchema = z
  .strictObject({
    id: z.string().optional(),
    name: z.string().optional(),
    if: z.union([z.string(), z.boolean()]).optional(),
    uses: z
      .string()
      .regex(/^[\w.-]+\/[\w./-]+@[\w.-]+$|^\.\/|^docker:\/\//, 'owner/repo@ref')
      .optional(),
    run: z.string().min(1).optional(),
    shell: z.string().optional(),
    with: stringMap.optional(),
    env: stringMap.optional(),
    'working-directory': z.string().optional(),
    'continue-on-error': z.union([z.boolean(), expression]).optional(),
    'timeout-minutes': z.union([z.number().positive(), expression]).optional(),
  })
  .refine((step) => (step.uses === undefined) !== (step.run === undefined), {
    message: 'a step has exactly one of "uses" and "run"',
  });

const matrixValue = z.union([z.string(), z.number(), z.boolean(), z.record(z.string(), z.unknown())]);
const strategySchema = z.strictObject({
  matrix: z.union([
    z
      .object({
        include: z.array(z.record(z.string(), matrixValue)).optional(),
        exclude: z.array(z.record(z.string(), matrixValue)).optional(),
      })
      .catchall(z.array(matrixValue)),
    expression,
  ]),
  'fail-fast': z.boolean().optional(),
  'max-parallel': z.number().int().positive().optional(),
});

const runsOn = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

const jobSchema = z.strictObject({
  name: z.string().optional(),
  'runs-on': runsOn,
  needs: z.union([z.string(), z.array(z.string())]).optional(),
  if: z.union([z.string(), z.boolean()]).optional(),
  permissions: z.union([z.string(), z.record(z.string(), z.string())]).optional(),
  env: stringMap.optional(),
  defaults: z
    .strictObject({
      run: z.strictObject({ shell: z.string().optional(), 'working-directory': z.string().optional() }),
    })
    .optional(),
  strategy: strategySchema.optional(),
  'timeout-minutes': z.union([z.number().positive(), expression]).optional(),
  'continue-on-error': z.union([z.boolean(), expression]).optional(),
  steps: z.array(stepSchema).min(1),
});

const branchFilter = z
  .strictObject({
    branches: z.array(z.string()).optional(),
    'branches-ignore': z.array(z.string()).optional(),
    tags: z.array(z.string()).optional(),
    paths: z.array(z.string()).optional(),
    'paths-ignore': z.array(z.string()).optional(),
    types: z.array(z.string()).optional(),
  })
  .nullable();
const EVENTS = ['push', 'pull_request', 'workflow_dispatch', 'schedule', 'merge_group', 'release'] as const;
const onSchema = z.union([
  z.enum(EVENTS),
  z.array(z.enum(EVENTS)).min(1),
  z.strictObject({
    push: branchFilter.optional(),
    pull_request: branchFilter.optional(),
    merge_group: branchFilter.optional(),
    release: branchFilter.optional(),
    workflow_dispatch: z.union([z.null(), z.record(z.string(), z.unknown())]).optional(),
    schedule: z.array(z.strictObject({ cron: z.string() })).optional(),
  }),
]);

export const workflowSchema = z.strictObject({
  name: z.string().optional(),
  'run-name': z.string().optional(),
  on: onSchema,
  permissions: z.union([z.string(), z.record(z.string(), z.string())]).optional(),
  env: stringMap.optional(),
  concurrency: z
    .union([
      z.string(),
      z.strictObject({
        group: z.string(),
        'cancel-in-progress': z.union([z.boolean(), z.string()]).optional(),
      }),
    ])
    .optional(),
  defaults: z
    .strictObject({
      run: z.strictObject({ shell: z.string().optional(), 'working-directory': z.string().optional() }),
    })
    .optional(),
  jobs: z
    .record(z.string().regex(/^[A-Za-z_][\w-]*$/, 'a job id: letters, digits, - and _'), jobSchema)
    .refine((jobs) => Object.keys(jobs).length > 0, 'at least one job'),
});

/** Problems of one workflow file's text; empty when it parses and fits the schema. */
export function checkWorkflowFile(text: string): string[] {
  let document: unknown;
  try {
    // YAML 1.1 would read a bare `on:` key as the boolean true; the yaml package's default is 1.2.
    document = parse(text, { prettyErrors: true, uniqueKeys: true });
  } catch (error) {
    return [`workflow YAML does not parse: ${(error as Error).message.split('\n')[0] ?? ''}`];
  }
  const result = workflowSchema.safeParse(document);
  if (result.success) {
    const problems: string[] = [];
    for (const [id, job] of Object.entries(result.data.jobs)) {
      for (const need of typeof job.needs === 'string' ? [job.needs] : (job.needs ?? [])) {
        if (!(need in result.data.jobs)) problems.push(`jobs.${id}.needs: no job "${need}"`);
      }
    }
    return problems;
  }
  return result.error.issues.map((issue) => `workflow ${issue.path.join('.') || '(root)'}: ${issue.message}`);
}
