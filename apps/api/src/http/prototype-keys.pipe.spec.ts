import { ProblemException } from './problem.exception';
import { RefusePrototypeKeysPipe } from './prototype-keys.pipe';

describe('RefusePrototypeKeysPipe', () => {
  const pipe = new RefusePrototypeKeysPipe();
  const refusal = (raw: string) => {
    try {
      pipe.transform(JSON.parse(raw));
    } catch (error) {
      return error as ProblemException;
    }
    throw new Error('accepted');
  };

  it('lets an ordinary body through as it is', () => {
    const body: unknown = JSON.parse('{"a":[{"b":1},"constructor"],"c":{"d":null}}');
    expect(pipe.transform(body)).toBe(body);
  });

  it('names every prototype key, at any depth', () => {
    const error = refusal(
      '{"__proto__":{"x":1},"a":[{"constructor":{"prototype":{}}}],"b":{"prototype":1}}',
    );
    expect(error).toBeInstanceOf(ProblemException);
    expect(error.status).toBe(400);
    expect(error.code).toBe('VALIDATION_FAILED');
    expect([...(error.extensions.fields as string[])].sort()).toEqual([
      '__proto__',
      'a[0].constructor',
      'b.prototype',
    ]);
  });

  it('walks a deeply nested body without exhausting the stack', () => {
    const deep = `${'['.repeat(50_000)}{"__proto__":1}${']'.repeat(50_000)}`;
    expect(refusal(deep).status).toBe(400);
  });
});
