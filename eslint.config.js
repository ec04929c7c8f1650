// typescript-eslint's recommended rules over the TypeScript sources, with the exceptions this
// code base keeps on purpose (each says why). `npm run lint` runs it and Prettier's check.
import eslint from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "build*/", "node_modules/", ".venv*/", "artifacts/", "**/*.js", "**/*.mjs"] },
  eslint.configs.recommended,
  tseslint.configs.recommended,
  {
    rules: {
      // `_name` marks a parameter a signature needs but the body does not use
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" }],
    },
  },
);
