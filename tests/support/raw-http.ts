import { request } from "node:http";

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The body's `errors[0]`, when it is a GraphQL error answer. */
  firstError(): { message: string; extensions?: { code?: string } } | undefined;
  json(): any;
}

/**
 * One HTTP request exactly as given, for what fetch will not do: any Origin or Host header,
 * and a body sent in chunks without a Content-Length (Transfer-Encoding: chunked).
 */
export function rawRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer; chunks?: Array<string | Buffer> } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? "GET", headers: options.headers }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => parts.push(c));
      res.on("error", reject);
      res.on("end", () => {
        const text = Buffer.concat(parts).toString("utf8");
        const json = () => JSON.parse(text);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text,
          json,
          firstError: () => (text.startsWith("{") ? json().errors?.[0] : undefined),
        });
      });
    });
    req.on("error", reject);
    if (options.chunks) {
      for (const chunk of options.chunks) req.write(chunk);
      req.end();
    } else {
      req.end(options.body);
    }
  });
}
