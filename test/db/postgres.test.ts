/**
 * The MetadataStore conformance suite on PostgreSQL (the cluster the test setup started),
 * each test in a fresh schema, its races run by worker threads on their own connections.
 */
import { openMetadataStore } from '../../src/db/open.js';
import { describePostgres, freshSchema } from '../helpers/postgres.js';
import { metadataConformance } from './metadata-conformance.js';

describePostgres('PostgreSQL', () => {
  metadataConformance(
    'PostgreSQL',
    async () => {
      const schema = await freshSchema('conf');
      const store = await openMetadataStore({ databaseUrl: schema.url, databasePoolMax: 4 });
      return {
        store,
        databaseUrl: schema.url,
        async cleanup() {
          await store.close();
          await schema.drop();
        },
      };
    },
    { manyConnections: true },
  );
});
