import { StrictMode, useEffect, useMemo } from "react";
import { createRoot } from "react-dom/client";
import { Provider } from "urql";
import { Link, Route, Switch } from "wouter";
import { createForgeClient, ForgeClientContext } from "./client.ts";
import { TokenForm } from "./components/TokenForm.tsx";
import { QueuePage } from "./pages/QueuePage.tsx";
import { RunPage } from "./pages/RunPage.tsx";
import { RunsPage } from "./pages/RunsPage.tsx";
import { TokenContext, useTokenState } from "./token.ts";
import "./styles.css";

/** The dashboard: the URL says which view (src/ops/dashboard.ts serves each route), the token says who asks. */
function App() {
  const tokenState = useTokenState();
  // A new token makes a new client: its cache and its socket hold only what that token may see.
  const forge = useMemo(() => createForgeClient(tokenState.token), [tokenState.token]);
  useEffect(() => () => forge.dispose(), [forge]);
  return (
    <TokenContext.Provider value={tokenState}>
      <ForgeClientContext.Provider value={forge}>
        <Provider value={forge.client}>
          <header className="top">
            <Link href="/" className="brand">
              Forge
            </Link>
            <nav>
              <Link href="/" className={(active) => (active ? "active" : "")}>
                Runs
              </Link>
              <Link href="/queue" className={(active) => (active ? "active" : "")}>
                Queue
              </Link>
            </nav>
            <TokenForm />
          </header>
          <main>
            <Switch>
              <Route path="/" component={RunsPage} />
              <Route path="/runs/:id">{(params) => <RunPage key={params.id} id={params.id} />}</Route>
              <Route path="/queue" component={QueuePage} />
              <Route>
                <p className="error">No such page.</p>
              </Route>
            </Switch>
          </main>
        </Provider>
      </ForgeClientContext.Provider>
    </TokenContext.Provider>
  );
}

const root = document.getElementById("root");
if (root) {
  createRoot(root).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
}
