// Starts the embedded GraphiQL against this server's /graphql. The token pasted on the start page
// (kept in this tab's sessionStorage) is put into GraphiQL's Headers pane, so a user pastes it once.
(function () {
  const token = sessionStorage.getItem("journey.token");
  const headers = token ? JSON.stringify({ Authorization: `Bearer ${token}` }, null, 2) : "";
  const fetcher = GraphiQL.createFetcher({ url: "/graphql" });
  const root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher,
      defaultHeaders: headers,
      headerEditorEnabled: true,
      shouldPersistHeaders: false,
      defaultEditorToolsVisibility: headers ? "headers" : false,
      defaultQuery: "# journey: the KPI catalogue\n{\n  kpiCatalogue { key title unit }\n}\n",
    }),
  );
})();
