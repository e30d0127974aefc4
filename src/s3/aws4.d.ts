// The part of aws4 (AWS Signature Version 4 for Node's http requests) that src/s3/store.ts uses.
declare module 'aws4' {
  interface SignableRequest {
    host?: string;
    path?: string;
    method?: string;
    service?: string;
    region?: string;
    headers?: Record<string, string | number>;
    body?: string | Buffer;
  }
  interface Credentials {
    accessKeyId: string;
    secretAccessKey: string;
    sessionToken?: string;
  }
  function sign<T extends SignableRequest>(request: T, credentials: Credentials): T & { headers: Record<string, string | number>; path: string };
  const aws4: { sign: typeof sign };
  export default aws4;
}
